"""Which command takes a release live on the app server: `restart` when the release's venv is not the one the
running server was started from (a requirements change: a reload keeps the old interpreter and packages, as
gunicorn's master does), else `reload`."""


def reload_command(params):
    if params.get("venv_changed") and params.get("restart"):
        return params["restart"]
    return params.get("reload")
