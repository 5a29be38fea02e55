"""pyflakes finds nothing in deploytasks/ (the server package above all: no undefined names)."""
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "deploytasks"


def test_pyflakes_finds_nothing_in_the_package():
    done = subprocess.run([sys.executable, "-m", "pyflakes", str(PACKAGE)], capture_output=True, text=True)
    assert done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_the_server_package_imports_nothing_outside_the_standard_library_but_django():
    allowed_third_party = {"django"}
    for path in (PACKAGE / "server").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and not words[1].startswith("."):
                top = words[1].split(".")[0].rstrip(",")
                assert top not in {"fabric", "invoke", "rich", "paramiko", "deploytasks"}, f"{path}: {line}"
                assert top in sys.stdlib_module_names or top in allowed_third_party, f"{path}: {line}"
