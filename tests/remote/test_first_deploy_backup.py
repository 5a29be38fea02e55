"""A first deploy onto a database that does not exist yet takes no (0-byte) pre-deploy backup and says so; a
later deploy with migrations backs up and rehearses (issue 10 §6)."""
ADDRESS = "127.0.0.52"


def dumps(s):
    return [name for name in s.backups() if name.endswith(".sqlite3")]


def test_a_first_deploy_keeps_no_empty_backup(server):
    s = server
    s.fab("setup").ok()
    assert not s.db.exists()
    first = s.fab("deploy").ok()
    assert "no backup: the database held nothing yet" in first.stdout, first.stdout
    assert "None" not in first.stdout
    assert not dumps(s), s.backups()

    s.repo.add_model("Widget")
    second = s.fab("deploy").ok()
    [backup] = dumps(s)
    assert "pre-deploy" in backup and (s.path / "backups" / backup).stat().st_size > 0
    assert "rehearsed on a copy, then applied" in second.stdout, second.stdout


def test_routine_backups_prune_only_their_own_kind_here_and_there_and_say_so(server):
    """keep_backups counts each kind apart (the user's backups, each kind of safety backup), keeps the pre-deploy
    backup a release on the server was deployed after, and applies to the local copies in backups/<host>/ too."""
    s = server
    [pre_deploy] = dumps(s)  # the previous test's migration deploy
    s.configure(keep_backups=2)
    try:
        for _ in range(4):
            last = s.fab("backup")
            last.ok()
    finally:
        s.settings.pop("keep_backups")
        s.configure()
    on_server = dumps(s)
    assert pre_deploy in on_server and len([name for name in on_server if name != pre_deploy]) == 2, on_server
    local = sorted(p.name for p in (s.project / "backups" / s.sshd.alias).glob("*.sqlite3"))
    assert len(local) == 2 and set(local) <= set(on_server), (local, on_server)
    assert "removed the oldest backups beyond keep_backups (2 of each kind): 1 on" in last.stdout, last.stdout
    assert "1 on this machine" in last.stdout, last.stdout


def test_backup_json_writes_the_manifest_alone_on_stdout_and_plain_output_starts_with_its_first_line(server):
    import json

    s = server
    run = s.fab("backup", "--json").ok()
    manifest = json.loads(run.stdout)  # the whole of stdout: a monitoring script's json.load
    assert manifest["local_path"].endswith(manifest["file"]) and "✓" in run.stderr, run
    plain = s.fab("backup").ok()
    assert plain.stdout.startswith("✓ "), repr(plain.stdout[:80])


def test_restores_keep_keep_backups_of_their_safety_backups(server):
    """Each restore adds a -pre-restore backup; the oldest beyond keep_backups go with the next restore, the
    other kinds untouched."""
    s = server
    local = s.fab("backup", "--json").ok().json()["local_path"]
    others = sorted(name for name in s.backups() if "pre-restore" not in name and name != "uploaded")
    s.configure(keep_backups=2)
    try:
        for _ in range(3):
            s.fab("restore", local, "--yes").ok()
    finally:
        s.settings.pop("keep_backups")
        s.configure()
    safety = [name for name in s.backups() if "-pre-restore" in name and name.endswith(".sqlite3")]
    assert len(safety) == 2, s.backups()
    assert sorted(name for name in s.backups() if "pre-restore" not in name and name != "uploaded") == others
