"""shared.push's look at a .env before it travels (shared.shell_runs_in): what the server's shell would run or
change as it sources the file is refused; what it takes as written passes. Checked against a real `sh`."""
import random
import subprocess

import pytest

from deploytasks.shared import shell_runs_in


@pytest.mark.parametrize("text, line, name, why", [
    ("SECRET_KEY=foo hunter2\n", 1, "SECRET_KEY", "an unquoted space in the value"),
    ("A=\"$(id)\"\n", 1, "A", "a command substitution"),
    ("A=`id`\n", 1, "A", "a command substitution"),
    ("REDIS_URL=redis://h/0?ssl=true&x=1\n", 1, "REDIS_URL", "an unquoted '&'"),
    ("A=b;c\n", 1, "A", "an unquoted ';'"),
    ("SECRET_KEY=ab$cd\n", 1, "SECRET_KEY", "a `$` in the value that the shell would expand"),
    ("B='multi\nline'\nC=x y\n", 3, "C", "an unquoted space"),
    ("A=1\nnot an assignment\n", 2, None, "no NAME=value assignment"),
    ("A='unterminated\n", 1, "A", "an unterminated quote"),
])
def test_what_the_shell_would_run_or_change_is_refused_by_line_and_name(text, line, name, why):
    found = shell_runs_in(text)
    assert found[:2] == (line, name) and why in found[2], found
    assert "hunter2" not in found[2] and "$cd" not in found[2]  # never a value


@pytest.mark.parametrize("text", [
    "A=1\nB='x y $z `q`'\n# a comment\n\nexport C=3 # trailing\n",
    "POSTGRES_USER=u\nDATABASE_URL=postgres://${POSTGRES_USER}:p@h/db\n",
    "KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nD=x#y\nE=\n",
    "A=1 B=2\nHOMEDIR=$HOME/x\n",
])
def test_what_the_shell_takes_as_written_passes(text):
    assert shell_runs_in(text) is None


def test_no_random_file_it_passes_makes_the_shell_run_or_complain_about_anything(tmp_path):
    """Differential: 400 random files of shell-significant characters; each one the check passes is sourced by a
    real `sh` with no command reachable on PATH: it must end quietly (nothing run, nothing mis-parsed)."""
    rng = random.Random(35)
    alphabet = list("abXY09_-./:@%+=,") + list(" \t'\"\\$`;&|<>()#{}*?!~\n")
    passed = 0
    for _ in range(400):
        text = "".join(f"V{i}=" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) + "\n"
                       for i in range(rng.randint(1, 3)))
        if shell_runs_in(text) is not None:
            continue
        passed += 1
        (tmp_path / "env").write_text(text)
        sourced = subprocess.run(["/bin/sh", "-c", f"PATH=/nonexistent; . {tmp_path / 'env'}"], env={"HOME": "/root"},
                                 capture_output=True, timeout=10)
        assert sourced.returncode == 0 and not sourced.stderr, (text, sourced.stderr)
    assert passed > 50  # the property was exercised
