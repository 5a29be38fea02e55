"""One server-package command asked request after request (deploytasks/conversation.py with server/runner.py):
the next request goes in only after the previous answer came out; EOF ends a command that waits."""
import io
import shlex
import sys

import invoke
import pytest

from deploytasks import conversation as conversation_module
from deploytasks.conversation import Conversation
from deploytasks.errors import DeployTasksError
from deploytasks.server import client_link
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


DIES_AFTER_ONE = ("import os, sys; from deploytasks.server import runner\n"
                  "runner.resolve = lambda name: (lambda params: {'answered': name})\n"
                  "runner.emit = (lambda emit: lambda result: (emit(result), os._exit(5) if result['answered'] == 'second'"
                  " else None))(runner.emit)\n"
                  "print('dying', file=sys.stderr)\n"
                  "runner.main()\n")


def test_a_command_that_dies_before_its_next_answer_is_not_answered_by_the_one_before():
    conversation = Conversation(invoke.Context(), f"{shlex.quote(sys.executable)} -c {shlex.quote(DIES_AFTER_ONE)}",
                                "a test conversation")
    assert conversation.ask("first", {}, then=True) == {"answered": "first"}
    assert conversation.ask("second", {}, then=True) == {"answered": "second"}
    with pytest.raises(DeployTasksError, match="a test conversation failed"):
        conversation.ask("third", {})


def test_a_command_without_its_bundle_says_so_by_its_own_error():
    conversation = Conversation(invoke.Context(), f"exit {conversation_module.bundle.MISSING}", "a test conversation")
    with pytest.raises(conversation_module.BundleMissing):
        conversation.ask("requirements_hash", {"requirements": "x"})


ARMED = ("import sys; from deploytasks.server import client_link, runner\n"
         "def arm(params):\n"
         "    client_link.when_lost(lambda why: open(params['out'], 'w').write(why))\n"
         "    return {'armed': True}\n"
         "runner.resolve = lambda name: arm\n"
         "runner.main()\n")


def armed(silence_limit):
    """A command whose entry asks to write why into params['out'] if its client goes away."""
    return Conversation(invoke.Context(), f"{shlex.quote(sys.executable)} -c {shlex.quote(ARMED)}", "armed",
                        silence_limit=silence_limit)


def test_a_waiting_command_that_hears_nothing_past_its_silence_limit_takes_the_client_as_gone(tmp_path):
    out = tmp_path / "why"
    conversation = armed(silence_limit=1)  # less than the pings' 2 s
    assert conversation.ask("arm", {"out": str(out)}, then=True) == {"armed": True}
    conversation.thread.join(timeout=30)
    assert not conversation.thread.is_alive()
    assert out.read_text() == "fab sent nothing for 1s (its connection lost?)"


def test_pings_keep_a_waiting_command_and_the_end_of_its_input_counts_as_the_client_gone(tmp_path, monkeypatch):
    monkeypatch.setattr(conversation_module, "PING_EVERY", 0.2)
    out = tmp_path / "why"
    conversation = armed(silence_limit=2)  # ten pings' worth: a loaded machine may delay a few
    conversation.ask("arm", {"out": str(out)}, then=True)
    conversation.thread.join(timeout=3)  # silent for more than the limit but for the pings
    assert conversation.thread.is_alive() and not out.exists()
    conversation.close()
    assert out.read_text() == "fab went away (its connection closed)"


def test_the_request_reader_skips_pings_and_reports_the_end():
    requests = client_link.Requests(io.StringIO('{"ping": true}\n{"entry": "x", "params": {}}\n'))
    assert requests.next(5) == ({"entry": "x", "params": {}}, None)
    assert requests.next(5) == (None, "fab went away (its connection closed)")


def test_once_ended_the_requests_stream_answers_eof_at_once_without_taking_another_line():
    """Invoke's stdin loop reads until the command has ended: after the end it must not wait for a line each time."""
    requests = conversation_module._Requests()
    requests.lines.put('{"entry": "x"}\n')
    requests.lines.put(None)
    assert requests.read() == '{"entry": "x"}\n'
    assert requests.read() == ""
    requests.lines.put("late\n")
    assert requests.read() == "" and requests.read() == ""
    assert requests.lines.get_nowait() == "late\n"
