"""Debian's and Ubuntu's PostgreSQL client commands (/usr/bin/pg_dump, psql, pg_restore) are one Perl script,
pg_wrapper (postgresql-common), that picks a version's binary and runs it: about 40 ms of Perl before every
tool, several times per backup, restore or rehearsal. For a command given `--host`, with no PGCLUSTER in the
environment, the wrapper always takes the newest installed version that has the program (pg_wrapper(1): an
explicit host skips the local cluster lookup), so that binary can be run directly with the same result."""
import os
import re

WRAPPER = "pg_wrapper"
BINROOT = "/usr/lib/postgresql"
SYSCONFDIR = "/etc/postgresql-common"  # the wrapper's PGSYSCONFDIR unless one is set (pg_service.conf's place)
VERSION = re.compile(r"\d+\.?\d+")  # the wrapper's own pattern for /usr/lib/postgresql/<version>


def is_wrapper(path):
    """Whether `path` (a command on PATH) is pg_wrapper under the tool's name."""
    return os.path.basename(os.path.realpath(path)) == WRAPPER


def direct_binary(path, environ=None, binroot=BINROOT):
    """The binary pg_wrapper would run for `path` (a tool found on PATH) given `--host`, or `path` itself when it
    is not the wrapper, PGCLUSTER chooses the version instead, or no version has the program."""
    environ = os.environ if environ is None else environ
    if not is_wrapper(path) or "PGCLUSTER" in environ:
        return path
    program = os.path.basename(path)
    try:
        entries = os.listdir(binroot)
    except OSError:
        return path
    versions = [entry for entry in entries if VERSION.fullmatch(entry) and _runnable(binroot, entry, program)]
    if not versions:
        return path
    return os.path.join(binroot, max(versions, key=float), "bin", program)


def _runnable(binroot, version, program):
    path = os.path.join(binroot, version, "bin", program)
    return os.path.isfile(path) and os.access(path, os.X_OK)
