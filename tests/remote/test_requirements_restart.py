"""A requirements change gives the release a new venv, which a reload does not load (gunicorn's master keeps its
interpreter): the deploy says so, and runs the `restart` command instead of `reload` when one is set
(issue 10 §6)."""
ADDRESS = "127.0.0.56"


def test_a_new_venv_is_said_and_restart_replaces_reload(served):
    s = served
    same = s.repo.code_change()
    plain = s.fab("deploy").ok()
    assert s.revision() == same and "venv changed" not in plain.stdout

    s.repo.requirements_change("psycopg[binary]")
    warned = s.fab("deploy").ok()
    assert "WARN the venv changed (requirements), but a reload keeps the app server's old interpreter" in warned.stdout, \
        warned.stdout
    assert "deploytasks.restart" in warned.stdout
    assert "still running from it: pid " in warned.stdout and f"pid {s.gunicorn.pid} (" in warned.stdout, \
        warned.stdout  # the master, HUPed (listed with its workers, in pid order: pids wrap around)

    marker = s.path / "restarted.log"
    s.configure(restart=f"echo restarted >> {marker} && {s.gunicorn.reload}")
    try:
        s.repo.requirements_change("# another requirements change")
        restarted = s.fab("deploy").ok()
        assert "restarted the app server (`restart`): the venv changed" in restarted.stdout, restarted.stdout
        assert marker.read_text() == "restarted\n"
        assert s.gunicorn.health()["revision"] == s.revision()

        s.repo.code_change()
        s.fab("deploy").ok()  # same venv: reload, not restart
        assert marker.read_text() == "restarted\n"
    finally:
        s.settings.pop("restart")
        s.configure()
