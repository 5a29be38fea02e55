"""bench/harness.write_results: a benchmark's section of docs/benchmarks.md rewritten, the notes under its mark
kept (run as written, the scripts replaced every earlier session's notes on their figures)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from harness import NOTES_MARK, write_results  # noqa: E402

BEFORE = f"""# Deploy benchmarks

## Deploy: deploytasks vs baselines

| old table |

How: the old run.

{NOTES_MARK}

Session 14's note on these figures.

## Next section

Untouched.
"""


def test_a_rewritten_section_keeps_the_notes_under_its_mark_and_the_other_sections(tmp_path):
    results = tmp_path / "benchmarks.md"
    results.write_text(BEFORE)
    write_results("Deploy: deploytasks vs baselines", "| new table |\n\nHow: the new run.\n", results)
    assert results.read_text() == BEFORE.replace("| old table |\n\nHow: the old run.", "| new table |\n\nHow: the new run.")


def test_a_section_without_the_mark_is_replaced_whole_and_a_new_one_appended(tmp_path):
    results = tmp_path / "benchmarks.md"
    results.write_text("# Deploy benchmarks\n\n## A\n\nold\n\nnotes\n\n## B\n\nb\n")
    write_results("A", "new\n", results)
    write_results("C", "c\n", results)
    assert results.read_text() == "# Deploy benchmarks\n\n## A\n\nnew\n\n## B\n\nb\n\n## C\n\nc\n"
