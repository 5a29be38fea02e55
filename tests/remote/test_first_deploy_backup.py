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
