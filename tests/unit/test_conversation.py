"""One server-package command asked request after request (deploytasks/conversation.py with server/runner.py):
the next request goes in only after the previous answer came out; EOF ends a command that waits."""
import shlex
import sys

import invoke
import pytest

from deploytasks.conversation import Conversation
from deploytasks.errors import DeployTasksError
from deploytasks.server.runner import MARKER

RUNNER = f"{shlex.quote(sys.executable)} -c 'from deploytasks.server.runner import main; main()'"


def talk():
    return Conversation(invoke.Context(), RUNNER, "a test conversation")


def test_requests_answered_in_turn_by_one_command(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("django\n")
    conversation = talk()
    one = conversation.ask("requirements_hash", {"requirements": str(first)}, then=True)
    assert conversation.open and conversation.thread.is_alive()
    second.write_text("django\ngunicorn\n")  # exists only now: the command read this request after answering
    two = conversation.ask("requirements_hash", {"requirements": str(second)})
    assert one["hash"] != two["hash"]
    assert not conversation.open and not conversation.thread.is_alive()
    assert conversation.result.exited == 0 and conversation.result.stdout.count(MARKER) == 2


def test_an_error_answer_keeps_a_waiting_command_and_eof_ends_it(tmp_path):
    conversation = talk()
    with pytest.raises(DeployTasksError):
        conversation.ask("requirements_hash", {"requirements": str(tmp_path / "missing.txt")}, then=True)
    assert conversation.open and conversation.thread.is_alive()
    conversation.close()
    assert not conversation.thread.is_alive()


def test_a_command_that_ends_without_answering_is_one_error():
    conversation = Conversation(invoke.Context(), "echo nothing here; exit 4", "a test conversation")
    with pytest.raises(DeployTasksError, match="a test conversation failed"):
        conversation.ask("requirements_hash", {"requirements": "x"})
