"""Database engines behind one interface (base.Engine): vendor -> "module:Class", imported on first use."""
import importlib

from ..errors import ServerError

ENGINES = {
    "sqlite": "sqlite:SQLite",
    "postgresql": "postgresql:PostgreSQL",
    "mysql": "mysql:MySQL",
}
SUPPORTED = "SQLite, PostgreSQL and MySQL/MariaDB"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def engine_class(vendor):
    """The engine class for a Django vendor name, or None when backups do not support it."""
    if vendor not in ENGINES:
        return None
    module_name, name = ENGINES[vendor].split(":")
    return getattr(importlib.import_module("." + module_name, __package__), name)


def engine_for(database, connection=None, unsupported=None):
    """The engine of `database` (django_info.database_info); for a vendor it does not know: None, or with
    `unsupported` (a message with one %s for the vendor) a ServerError."""
    cls = engine_class(database["vendor"])
    if cls is None:
        if unsupported:
            raise ServerError(unsupported % database["vendor"])
        return None
    return cls(database, connection)


def sniff(path):
    """The vendor a backup file was made for, from its first bytes (None: unknown)."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(ZSTD_MAGIC):  # PostgreSQL's and MySQL's dumps both: what is inside tells
        head = zstd_head(path) or head
    for vendor in ENGINES:
        if engine_class(vendor).looks_like(head):
            return vendor
    return None


def zstd_head(path):
    """The first bytes of a zstd-compressed file's content (b"" when it cannot be read)."""
    from .pg_stream import ArchiveSource, find_zstd

    if not find_zstd():
        return b""
    with ArchiveSource(path) as source:
        return source.stdin.read(16)
