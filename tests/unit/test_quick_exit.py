"""`inv` and `fab` skip the last full garbage collection at exit (deploytasks/quick_exit.py): once the program's
exit starts, the objects alive are frozen, and a file written just before the end is complete all the same."""
import subprocess
import sys

PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen at the end:", gc.get_freeze_count() > 0))  # runs after later ones
{imports}
with open(sys.argv[1], "w") as handle:
    handle.write("written" * 1000)
"""


def frozen_at_exit(tmp_path, imports):
    out = tmp_path / "out.txt"
    done = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports), str(out)], capture_output=True,
                          text=True, check=True)
    assert out.read_text() == "written" * 1000
    return done.stdout.strip()


def test_the_task_collections_freeze_what_is_alive_when_the_exit_starts(tmp_path):
    assert frozen_at_exit(tmp_path, "import deploytasks.local") == "frozen at the end: True"
    assert frozen_at_exit(tmp_path, "import deploytasks.remote") == "frozen at the end: True"


def test_a_program_without_them_collects_as_usual(tmp_path):
    assert frozen_at_exit(tmp_path, "import invoke") == "frozen at the end: False"
