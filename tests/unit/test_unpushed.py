"""deploy_report.report_unpushed: a deploy of the configured branch notes the local commits it did not ship."""
import subprocess
from types import SimpleNamespace

from deploytasks.deploy_report import report_unpushed


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_local_commits_the_deployed_revision_lacks_are_named_and_none_says_nothing(tmp_path, capsys):
    repo = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pushed")
    deployed = git(repo, "rev-parse", "HEAD")
    settings = SimpleNamespace(project=str(repo), branch="main", repo="git@example.com:site.git")
    report_unpushed(settings, deployed)
    assert capsys.readouterr().out == ""
    (repo / "a.txt").write_text("b\n")
    git(repo, "commit", "-q", "-am", "not pushed")
    report_unpushed(settings, deployed)
    out = capsys.readouterr().out
    assert f"your HEAD has 1 commit(s) that {deployed[:12]} lacks: push them" in out
    report_unpushed(SimpleNamespace(**dict(vars(settings), project=str(tmp_path))), deployed)  # not a git checkout
    assert capsys.readouterr().out == ""
