"""What the tools build for a shell and read back from one: quoting, and the line a failure is reported with."""
import shlex
import subprocess

from invoke.runners import Result

from deploytasks.shell import MARKER, q, summary
from deploytasks.installer import STAMP, install_command

HOSTILE = "/srv/my site/$(touch /tmp/pwned)`id`;rm -rf ~'\"/requirements.txt"


def test_the_pip_install_command_keeps_every_path_one_word():
    command = install_command("/srv/a b/python", HOSTILE)
    assert shlex.split(command) == ["/srv/a b/python", "-m", "pip", "install", "--disable-pip-version-check",
                                    "-q", "-r", HOSTILE]


def test_the_uv_install_command_keeps_every_path_one_word():
    command = install_command("/srv/a b/python", HOSTILE, uv="/opt/u v/uv")
    assert shlex.split(command) == ["/opt/u v/uv", "pip", "install", "-q", "--python", "/srv/a b/python", "-r", HOSTILE]


def test_the_install_command_writes_the_stamp_into_the_venv_only_with_a_digest():
    assert "&&" not in install_command("python", "r.txt", venv="/v")
    command = install_command("python", "r.txt", venv="/srv/v e n v", digest="abc'; id")
    first, second = command.split(" && ")
    assert shlex.split(second) == ["printf", "%s\\n", "abc'; id", ">", f"/srv/v e n v/{STAMP}"]


def test_a_quoted_value_reaches_the_shell_as_typed(tmp_path):
    echoed = subprocess.run(["sh", "-c", f"printf %s {q(HOSTILE)}"], capture_output=True, text=True, cwd=tmp_path)
    assert echoed.stdout == HOSTILE and not (tmp_path / "pwned").exists()


def result(stdout="", stderr="", exited=1):
    return Result(stdout=stdout, stderr=stderr, exited=exited)


def test_a_failure_is_summed_up_by_the_last_line_of_stderr():
    assert summary(result(stdout="noise\n", stderr="warning: x\n\nerror: the real one\n  \n")) == "error: the real one"


def test_without_stderr_the_last_line_of_stdout_is_used_and_markers_are_skipped():
    assert summary(result(stdout=f"done step\n{MARKER}{{\"ok\": 1}}\n")) == "done step"


def test_a_failure_without_output_says_its_exit_status():
    assert summary(result(exited=127)) == "exit status 127"
