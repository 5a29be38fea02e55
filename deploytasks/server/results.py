"""The shapes of entry results the client reads by key (typing only: the runner sends plain JSON objects)."""
from typing import Dict, List, Optional, TypedDict


class MigrationComparison(TypedDict):
    """One app of a backup against the code it is restored under (manifests.compare_migrations)."""
    backup_applied: int
    backup_latest: Optional[str]
    code_latest: Optional[str]
    code_total: int
    missing: List[str]
    unknown: List[str]


class RestoreResult(TypedDict, total=False):
    """restore.main: the check of a backup, and with apply what the restore did."""
    file: str
    size: int
    fingerprint: list
    manifest: dict
    database: dict
    migrations: Dict[str, MigrationComparison]
    verified: str
    restored: bool
    method: str
    safety_backup: Optional[str]
    writers_held_seconds: float
    unlocked: bool
