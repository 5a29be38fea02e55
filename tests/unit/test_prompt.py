"""The confirmation of destructive tasks, at a real terminal (a pty): the question goes to stderr, so a task's
--json on stdout stays one document (it went to stdout through input())."""
import os
import pty
import subprocess
import sys

ASK = ("import sys; sys.path.insert(0, %r); from deploytasks.prompt import confirm; confirm('Roll back to R?', False);"
       " print('ok, and nothing else on stdout')")


def test_the_question_goes_to_stderr_and_the_answer_is_read_from_the_terminal():
    main, terminal = pty.openpty()
    try:
        run = subprocess.Popen([sys.executable, "-c", ASK % os.getcwd()], stdin=terminal, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        os.write(main, b"y\n")
        out, err = run.communicate(timeout=30)
    finally:
        os.close(main)
        os.close(terminal)
    assert run.returncode == 0, err
    assert out == "ok, and nothing else on stdout\n" and "Roll back to R? [y/N]" in err, (out, err)
