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
    ("DB=${DB_NAME:?}\nAFTER=1\n", 1, "DB", "a `${…}` form in the value, which the shell evaluates"),
    ("DB_HOST=${POSTGRES_HOST:-db}\n", 1, "DB_HOST", "a `${…}` form"),
    ("MEDIA=~/media\n", 1, "MEDIA", "a `~` the shell replaces by a home directory"),
    ("DB_PASSWORD=ab\\cd\n", 1, "DB_PASSWORD", "a backslash in the value, which the shell drops"),
    ('CFG={"a":1}\n', 1, "CFG", "quotes inside the value, which the shell removes"),
    ("A=$'x'\n", 1, "A", "quotes inside the value"),
    ("PID=pa$$word\n", 1, "PID", "a `$` in the value that the shell would expand"),
    ("# c\r\nA=1\r\n", 1, None, "a carriage return at its end (Windows line endings)"),
    ("\ufeffDJANGO_DEBUG=False\n", 1, None, "a byte order mark (BOM)"),
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
    "A=1\nexport A\nset -a\nunset B\nset +a # done\n",
    "KEY=\"it's\"\nK2='a\"b'\n",
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


def as_written(value):
    """What a one-line value means as written: wholly quoted, the inside; unquoted, up to the first blank (a
    comment may follow); None for quotes in other places (no one meaning to compare with)."""
    if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0] and value[0] not in value[1:-1]:
        return value[1:-1]
    if "'" in value or '"' in value:
        return None
    return value.replace("\t", " ").split(" ")[0]


def test_no_random_value_it_passes_is_changed_by_the_shell(tmp_path):
    """Differential, on the values: each value the check passes is, once `sh` has sourced it, the text written
    (wholly quoted: what is inside the quotes). `${X:-d}`, `~`, `\\` and quotes inside a value passed and changed."""
    rng = random.Random(3535)
    alphabet = list("abXY09_-./:@%+=,") + list(" \t\\$`;&|<>()#{}*?!~:")
    checked = 0
    for _ in range(1500):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(3)]
        quote = rng.choice(["", "'", '"'])
        values = [quote + value.replace("'", "").replace('"', "") + quote for value in values]
        text = "".join(f"V{i}={value}\n" for i, value in enumerate(values))
        if shell_runs_in(text) is not None:
            continue
        checked += 1
        (tmp_path / "env").write_text(text)
        sourced = subprocess.run(["/bin/sh", "-c", f"PATH=/nonexistent; . {tmp_path / 'env'}; "
                                                   "printf '%s\\0' \"$V0\" \"$V1\" \"$V2\""],
                                 env={"HOME": "/root"}, capture_output=True, timeout=10)
        assert not sourced.stderr, (text, sourced.stderr)
        assert sourced.stdout.decode().split("\0")[:3] == [as_written(value) for value in values], (
            text, sourced.stdout)
    assert checked > 100  # the property was exercised
