"""A step's result: read as its sentence, asked for its status."""
from types import SimpleNamespace

import pytest

from deploytasks import steps
from deploytasks.step_result import StepResult, done, dry, kept, marked, skipped


def test_a_step_result_reads_as_its_detail_and_says_its_status():
    result = kept("requirements unchanged, skipped")
    assert result == "requirements unchanged, skipped"
    assert f"install: {result}" == "install: requirements unchanged, skipped"
    assert (result.status, result.detail, result.changed) == ("kept", "requirements unchanged, skipped", False)
    assert done("3 applied").changed and not dry("would apply 3").changed and not skipped("off").changed


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown step status 'maybe'"):
        StepResult("maybe", "?")


def test_results_are_coloured_by_status_and_other_text_is_left_as_it_is():
    assert marked(done("created")) == "[green]created[/]"
    assert marked(dry("would create")) == "[cyan]would create[/]"
    assert marked("plain") == "plain"


def test_the_venv_step_is_skipped_when_the_project_uses_no_venv():
    result = steps.venv(None, SimpleNamespace(venv=None))
    assert result.status == "skipped" and "use_venv is off" in result
