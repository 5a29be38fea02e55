"""The user's server commands (reload, start): run in {path}, in their own process group, bounded in time."""
import os
import signal
import subprocess


def meaningful_line(text):
    """The first line that says what went wrong (a shell's first error, not the usage lines after it)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else "no output"


def run_command(layout, command, what, password=None, timeout=60):
    """None when `command` exits 0, else a one-line problem. Its stdin carries Fabric's sudo password (for
    `sudo -S …`) when one is configured, else nothing; on timeout its whole process group is killed. Output
    goes to a file, so a server it starts in the background cannot keep us waiting."""
    import tempfile  # only a command run needs it, not every entry that imports this module

    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as stdin:
        if password:
            stdin.write(((password + "\n") * 3).encode())
            stdin.seek(0)
        process = subprocess.Popen(command, shell=True, cwd=layout.path, stdin=stdin, stdout=output,
                                   stderr=errors, start_new_session=True)
        note_group(layout, process.pid)
        try:
            code = process.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            kill_group(process.pid)
            process.wait()
            return "%s command timed out after %ss (killed): %s" % (what, _seconds(timeout), command)
        except BaseException:
            kill_group(process.pid)
            process.wait()
            raise
        if code == 0:
            return None
        texts = []
        for stream in (errors, output):  # what it said went wrong, before what it said it was doing
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", "replace"))
    return "%s command failed (exit %d): %s" % (what, code, meaningful_line(texts[0]) if texts[0].strip()
                                                else meaningful_line(texts[1]))


def note_group(layout, pgid):
    """Name the command's process group in the running deploy's journal: should the deploy's process die, whoever
    recovers it ends what still runs there (recovery.end_orphans), before it switches anything back."""
    from . import journal as journals

    journal = journals.read(layout)
    if journal and journal.get("release"):
        journals.update(layout, command_group=pgid)


def _seconds(value):
    return int(value) if float(value).is_integer() else value


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
