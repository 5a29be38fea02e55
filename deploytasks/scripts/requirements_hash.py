# Whether the venv's install stamp matches the current requirements.
emit({
    "hash": requirements_digest(PARAMS["requirements"]),
    "python": "%d.%d.%d" % sys.version_info[:3],
    "stamp": read_stamp(PARAMS["stamp"]) if PARAMS.get("stamp") else None,
    "venv_ok": bool(PARAMS.get("venv_python")) and os.path.exists(PARAMS["venv_python"]),
})
