"""Crash safety (issue 9) at the later points of a deploy and at a rollback's unapply: collectstatic, the
pre-migration backup, the rehearsal, migrate failing on the live database only, the switch, prune, unlock; each
faulted as fab SIGKILLed, the SSH connection killed, or the step failing by itself (tests/remote/fault_points.py
says how each window is held open). After each: the site serves `current`'s revision, its migrations are exactly
the applied ones, no orphan release, the lock free, and the next deploy succeeds. The bench
(bench/reliability.py) runs every kind at every point; here the cases that differ most."""
from __future__ import annotations

import pytest

from tests.remote import fault_points, faults

ADDRESS = "127.0.0.160"

CASES = [
    ("collectstatic", "kill-connection"), ("collectstatic", "step-fails"),
    ("backup", "step-fails"),
    ("rehearsal", "kill-connection"),
    ("migrate", "step-fails"),
    ("switch", "kill-fab"), ("switch", "step-fails"),
    ("prune", "kill-connection"), ("prune", "step-fails"),
    ("unlock", "kill-connection"),
    ("rollback unapply", "step-fails"),
]


@pytest.fixture(scope="module")
def baseline(served):
    fault_points.addmodel(served)
    return faults.take_baseline(served)


@pytest.fixture
def site(baseline, served):
    served.fault_pids = []
    yield served
    fault_points.clear_ballast(served)
    faults.reset(served, baseline, served.fault_pids)


@pytest.mark.parametrize("point,kind", CASES, ids=[f"{p.replace(' ', '-')}-{k}" for p, k in CASES])
def test_a_fault_at_each_later_point_ends_consistent_and_the_next_deploy_succeeds(site, point, kind):
    s = site
    outcome = fault_points.run(s, point, kind)
    s.fault_pids.extend(outcome.server_pids)
    print(f"{point} / {kind}: rc {outcome.run.returncode if outcome.run else None}; failed requests "
          f"{outcome.failed_requests}; time to consistent {outcome.seconds_to_consistent}; "
          f"{(outcome.run.stderr.strip().splitlines() or [''])[-1] if outcome.run else ''}")
    assert outcome.consistent, f"{outcome.problems}\n{outcome.run.stdout}\n{outcome.run.stderr}"
    assert not s.lock.exists()
    if kind == "step-fails" and point not in ("prune",):
        assert s.current_name() == outcome.live_before, "a step that failed changed what is live"
    if (point, kind) == ("unlock", "kill-connection"):
        # Either fab had the whole answer in its socket before the connection died (the kernel buffered it), or
        # it reconnected and asked: both tell the user the deploy finished.
        told = outcome.run.stdout if outcome.run.returncode == 0 else outcome.run.stderr
        assert "is live" in told, (outcome.run.stdout, outcome.run.stderr)
    fault_points.clear_ballast(s)
    s.fab("deploy", "--again", "--revision", s.revision()).ok()  # whichever way it ended, what is live deploys again
    assert not faults.inconsistencies(s, s.gunicorn.url)
