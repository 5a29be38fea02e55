"""The release and fleet tables (tables.py): each table's text, and the JSON that replaces it with --json."""
import json

from deploytasks import tables


def listing(current, *names, bad=(), lock=None):
    return {"current": current, "lock": lock,
            "releases": [{"release": name, "revision": f"{name}-sha" * 3, "current": name == current,
                          **({"status": "bad"} if name in bad else {})} for name in names]}


def test_a_fleet_on_one_release_shows_each_host_s_releases_side_by_side(capsys):
    currents = tables.show_fleet_releases({"web1": listing("r2", "r1", "r2"), "web2": listing("r2", "r2")}, False)
    out = capsys.readouterr().out
    assert currents == {"web1": "r2", "web2": "r2"}
    assert "Releases on 2 hosts" in out and "all 2 hosts on r2" in out and "drift" not in out
    r1 = next(line for line in out.splitlines() if " r1 " in line)
    assert "present" in r1 and r1.rstrip().rstrip("│").rstrip().endswith("-")


def test_a_fleet_on_different_releases_is_flagged_as_drift_and_locks_are_named(capsys):
    lock = {"action": "deploy", "who": "ann@laptop", "since": "2026-12-03T09:00:00Z"}
    tables.show_fleet_releases({"web1": listing("r2", "r1", "r2"), "web2": listing("r1", "r1", "r2", bad=("r2",),
                                                                                  lock=lock)}, False)
    out = capsys.readouterr().out
    assert "drift: the hosts are not on the same release: web1 on r2, web2 on r1" in out
    assert "web2 locked: deploy by ann@laptop since 2026-12-03T09:00:00Z" in out and "bad" in out


def test_a_fleet_s_releases_as_json_are_one_document_with_drift(capsys):
    listings = {"web1": listing("r2", "r1", "r2"), "web2": listing(None)}
    assert tables.show_fleet_releases(listings, True) == {"web1": "r2", "web2": None}
    document = json.loads(capsys.readouterr().out)
    assert document == {"hosts": listings, "current": {"web1": "r2", "web2": None}, "drift": True}


def test_one_host_s_releases_as_json_carry_the_host_and_as_text_newest_first(capsys):
    info = listing("r2", "r1", "r2")
    tables.show_releases(info, True, "web1", "/srv/site")
    assert json.loads(capsys.readouterr().out) == dict(info, host="web1")
    tables.show_releases(info, False, "web1", "/srv/site")
    out = capsys.readouterr().out
    assert "Releases on web1:/srv/site" in out and out.index(" r2 ") < out.index(" r1 ")


def test_a_fleet_outcome_is_a_table_or_one_json_document_with_its_extra_keys(capsys):
    hosts = [{"host": "web1", "phase": "finalize", "release": "r3", "seconds": 4.0, "result": "ok", "error": None},
             {"host": "web2", "phase": "switch", "release": None, "seconds": 3.0, "result": "failed",
              "error": "unhealthy"}]
    tables.show_fleet_outcome("Deploy of 2 hosts", hosts, True, {"result": "switched back"})
    assert json.loads(capsys.readouterr().out) == {"result": "switched back", "hosts": hosts}
    tables.show_fleet_outcome("Deploy of 2 hosts", hosts, False)
    out = capsys.readouterr().out
    assert "Deploy of 2 hosts" in out and "4.0s" in out and "3.0s" in out
    assert "failed: unhealthy" in out
