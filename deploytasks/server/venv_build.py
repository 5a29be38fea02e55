"""Entry: build a release's venv under the deploy lock, safe to lose its client.

The build (deploytasks.installer.server_build_command: complete or absent) runs in its own process group while
this process watches the client's SSH connection. Should it go (fab killed, connection dropped), the build is
stopped, its half venv removed, the unswitched release removed, the failure logged and the lock freed: nothing
waits for a client that will not come back. A client still there gets the build's output to report."""
import os
import shutil
import signal
import subprocess

from . import bytecode, uv_cache
from .layout import ServerLayout
from .lock import release_lock
from .lock_guard import register_worker, session_process
from .procscan import _stat
from .process_end import end_watch
from .releases import append_log, remove_release
from .requirements import STAMP
from .results import VenvBuild

POLL_SECONDS = 0.25
# in a build command sent before the release is made (prepare_release.build_venv), replaced by the values it has
DIGEST = "@@DEPLOYTASKS-REQUIREMENTS-HASH@@"
VENV = "/@@DEPLOYTASKS-VENV@@"  # a path that shell quoting leaves bare, replaced by the quoted venv path


def stop(process):
    """Stop the build and everything it started (uv, pip, compilers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def complete(venv):
    """A venv is complete once stamped (the stamp is written last)."""
    return os.path.exists(os.path.join(venv, STAMP))


def give_up(layout, params, reason):
    """The client is gone: leave the server as before the deploy (a complete venv stays for the next one)."""
    venv = params.get("venv")
    if venv and not complete(venv):
        shutil.rmtree(venv, ignore_errors=True)
    remove_release(layout, params.get("release"))
    if params.get("log"):
        append_log(layout, dict(params["log"], release=params.get("release"), result="failed", error=reason))
    release_lock(layout)


def main(params) -> VenvBuild:
    return build(ServerLayout(params["path"]), params)


def build(layout, params) -> VenvBuild:
    """Run params["command"] (in params["cwd"], else the deploy path) while watching the client's connection; once
    more when uv failed on a damaged cache that could be repaired (uv_cache.repair_dangling)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a dropped session must not stop the cleanup below
    session = session_process()
    register_worker(layout.lock)  # a deploy's lock guard waits for this build
    built = run_watched(layout, params, session)
    if built.get("returncode") and uv_cache.repair_dangling(built["stderr"]):
        built = dict(run_watched(layout, params, session), cache_repaired=True)
    if built.get("returncode") == 0 and params.get("venv") and complete(params["venv"]):
        built["bytecode_linked"] = bytecode.link_from_live(layout, params["venv"])
    return built


def run_watched(layout, params, session) -> VenvBuild:
    process = subprocess.Popen(["/bin/sh", "-c", params["command"]], cwd=params.get("cwd") or layout.path,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, start_new_session=True)
    output = {}
    reader = _Reader(process, output)
    with end_watch(process.pid) as wait:  # the build's end is seen at once, not at the next look at the client
        while process.poll() is None:
            if session is not None and _stat(session) is None:
                stop(process)
                give_up(layout, params, "the client went away while the venv was built")
                return {"gone": True}
            wait(POLL_SECONDS)
    reader.join()
    if session is not None and _stat(session) is None:
        give_up(layout, params, "the client went away while the venv was built")
        return {"gone": True}
    return {"returncode": process.returncode, "stdout": output.get("stdout", ""), "stderr": output.get("stderr", "")}


class _Reader:
    """Drains the build's output in threads (a full pipe would stall it)."""

    def __init__(self, process, into):
        import threading

        self.threads = [threading.Thread(target=self._drain, args=(stream, name, into), daemon=True)
                        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _drain(stream, name, into):
        into[name] = stream.read()

    def join(self):
        for thread in self.threads:
            thread.join()
