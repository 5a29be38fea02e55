"""`python -m fabric ARGS` and `python -m invoke ARGS` for the tests, without a Python start-up each.

About a thousand `fab`/`inv` runs per suite each spent most of their client's CPU time starting Python and
importing Fabric, paramiko, Invoke and deploytasks. A fork server per tool and test process imports them once;
each run is a fork of it that becomes the tool exactly as `python -m` would start it: the test's argv, working
directory (first on sys.path), environment and standard streams, the tool's own `__main__`, then Python's
exit (non-daemon threads joined, atexit handlers, streams flushed). Only the interpreter's start-up and the imports
are shared; the fabfile or tasks.py, the configuration files and everything the run does are its own.

`run(tool, args, ...)` answers like `subprocess.run(..., capture_output=True, text=True)`.
DEPLOYTASKS_TEST_FORKSERVER=0 runs every tool as a real `python -m` process instead.
"""
from __future__ import annotations

import atexit
import json
import locale
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BOTH = ("rich.table", "rich.live", "rich.status", "decimal", "encodings.idna", "pwd", "runpy")  # loaded by most runs
PRELOAD = {
    "fab": ("fabric.main", "deploytasks.remote", "paramiko.transport", "paramiko.ed25519key", "paramiko.rsakey", *BOTH),
    "inv": ("invoke.main", "deploytasks.local", *BOTH),
}
MODULE = {"fab": "fabric", "inv": "invoke"}
ENABLED = os.environ.get("DEPLOYTASKS_TEST_FORKSERVER", "1") != "0"

_servers: dict = {}


def run(tool, args, *, cwd, env, input=None, timeout=300, fresh=False) -> subprocess.CompletedProcess:
    """`python -m fabric|invoke ARGS` in cwd with exactly env; stdin is `input` (text) or /dev/null.
    fresh: a real `python -m` process (the README's paths, as a user types them)."""
    argv = [sys.executable, "-m", MODULE[tool], *args]
    if fresh or not ENABLED:
        return subprocess.run(argv, cwd=cwd, env=env, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    return _server(tool).run(argv, args, str(cwd), env, input, timeout)


def _server(tool) -> "_ForkServer":
    server = _servers.get(tool)
    if server is None or server.process.poll() is not None:
        server = _servers[tool] = _ForkServer(tool)
    return server


class _ForkServer:
    def __init__(self, tool):
        self.directory = tempfile.mkdtemp(prefix=f"forkserver-{tool}-")
        self.address = os.path.join(self.directory, "socket")
        # its stdin is the pipe that tells it this process is gone (EOF); `-c` keeps sys.path[0] the cwd's ''
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from tests._forkserver import serve; serve({tool!r}, {self.address!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=os.path.dirname(os.path.dirname(__file__)))
        deadline = time.monotonic() + 60
        while not os.path.exists(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {tool} fork server did not start")
            time.sleep(0.01)
        atexit.register(self.stop)

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, argv, args, cwd, env, input, timeout):
        started = time.monotonic()
        stdin_r, stdin_w = os.pipe() if input is not None else (os.open(os.devnull, os.O_RDONLY), None)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        conversation = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conversation.connect(self.address)
            request = json.dumps({"args": list(args), "cwd": cwd, "env": env}).encode()
            socket.send_fds(conversation, [len(request).to_bytes(8, "big")], [stdin_r, out_w, err_w])
            conversation.sendall(request)
        finally:
            for fd in (stdin_r, out_w, err_w):
                os.close(fd)
        answers = conversation.makefile("rb")
        pid = int(answers.readline())
        if stdin_w is not None:
            with open(stdin_w, "w") as handle:  # small inputs (answers to prompts): the pipe holds them
                try:
                    handle.write(input)
                    handle.flush()
                except BrokenPipeError:  # it did not read them
                    pass
        output = {out_r: [], err_r: []}
        with selectors.DefaultSelector() as selector:
            for fd in output:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                left = timeout - (time.monotonic() - started)
                ready = selector.select(max(left, 0))
                if not ready:
                    os.kill(pid, 9)
                    for key in list(selector.get_map().values()):  # the streams not at their end yet
                        os.close(key.fd)
                    answers.close()
                    conversation.close()
                    raise subprocess.TimeoutExpired(argv, timeout)
                for key, _ in ready:
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        output[key.fd].append(chunk)
                    else:
                        selector.unregister(key.fd)
                        os.close(key.fd)
        status = answers.readline()
        answers.close()
        conversation.close()
        returncode = int(status) if status else -9
        stdout, stderr = (_text(b"".join(output[fd])) for fd in (out_r, err_r))
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


def _text(data: bytes) -> str:
    """As subprocess.run(text=True) decodes: the locale's encoding, universal newlines."""
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


def serve(tool, address):
    """The fork server: imports the tool once, then forks a handler per connection (which forks the run and
    reports its exit status); ends when its stdin (the test process's pipe) closes."""
    import gc
    import importlib
    import signal

    for name in PRELOAD[tool]:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".tmp")
    listener.listen(64)
    os.rename(address + ".tmp", address)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is not listener:
                    return
                conversation, _ = listener.accept()
                if os.fork() == 0:
                    listener.close()
                    os.close(sys.stdin.fileno())
                    _handle(tool, conversation)
                conversation.close()


def _handle(tool, conversation):
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    size = None
    data, fds = b"", []
    while size is None or len(data) < 8 + size:
        chunk, received, _, _ = socket.recv_fds(conversation, 1 << 20, 3)
        if not chunk:
            os._exit(1)
        data += chunk
        fds += received
        if len(data) >= 8:
            size = int.from_bytes(data[:8], "big")
    request = json.loads(data[8:])
    pid = os.fork()
    if pid == 0:
        conversation.close()
        _become_the_tool(tool, request, fds)
    for fd in fds:
        os.close(fd)
    try:
        conversation.sendall(f"{pid}\n".encode())
    except OSError:  # the test gave up on it already
        pass
    _, status = os.waitpid(pid, 0)
    try:
        conversation.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    except OSError:  # a timeout: the test killed it and stopped listening
        pass
    os._exit(0)


def _become_the_tool(tool, request, fds):
    """In the forked run: what `python -m <tool>` would be, then Python's own exit."""
    import fcntl
    import importlib
    import io
    import runpy
    import threading

    above = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds]  # out of 0-2's way before they are replaced
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(above):
        os.dup2(fd, target)
        os.close(fd)
    streams = []
    for fd, mode, old, lines in ((0, "r", sys.stdin, False), (1, "w", sys.stdout, False), (2, "w", sys.stderr, True)):
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        streams.append(io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors, line_buffering=lines))
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [MODULE[tool], *request["args"]]  # runpy puts the module's __main__.py in argv[0], as -m does
    sys.path[0] = os.getcwd()
    importlib.invalidate_caches()
    code = 0
    try:
        runpy.run_module(MODULE[tool], run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            code = exit.code or 0
        else:  # sys.exit("message"): Python prints it and exits 1
            print(exit.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)
