"""The shapes of entry results the client reads by key (typing only: the runner sends plain JSON objects)."""
from typing import Dict, List, Optional, TypedDict

MigrationState = Dict[str, List[str]]  # app label -> its applied migrations, in file order


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


class ReleaseMeta(TypedDict, total=False):
    """A release's metadata (release.json): what finalize_release recorded, or just {"release"} without it."""
    release: str
    revision: str
    deployed_at: str
    by: str
    venv: str
    migrations: MigrationState
    migrations_before: MigrationState
    migrations_changed: bool
    backup: Optional[str]
    status: str
    live_since: str
    bad_since: str


class ReleaseRow(ReleaseMeta, total=False):
    """One release of a listing: its metadata, and whether it is live."""
    current: bool


class LockInfo(TypedDict, total=False):
    """Who holds the deploy lock (lock.lock_info)."""
    action: str
    who: str
    since: str
    pid: int
    age: int


class ReleaseListing(TypedDict):
    """server_admin "releases": the live release, every release (oldest first), the lock if held."""
    current: Optional[str]
    releases: List[ReleaseRow]
    lock: Optional[LockInfo]


class PreparedRelease(TypedDict, total=False):
    """prepare_release.main: the new release beside the live one, under the lock."""
    release: str
    revision: str
    release_dir: str
    venv: str
    venv_ready: bool
    requirements_hash: str
    linked: list
    current: Optional[str]
    current_meta: Optional[ReleaseMeta]
    marked_bad: List[str]
    recovered: Optional[str]
    guard: dict


class PredeployResult(TypedDict, total=False):
    """predeploy.main: the new release checked, static collected, the database backed up, rehearsed, migrated."""
    database: dict
    checklist: list
    media: dict
    static: dict
    collectstatic: str
    state_before: MigrationState
    pending: List[str]
    lint: dict
    backup: str
    rehearsed: bool
    rehearsal_skipped: str
    state_after: MigrationState


class SchemaRollback(TypedDict, total=False):
    """migrate.to_state: the migrations to unapply (check_only), and what was backed up and unapplied."""
    unapply: List[str]
    irreversible: List[str]
    backup: str
    unapplied: List[str]


class SwitchResult(TypedDict):
    """fleet_step "switch": the switch and health check of one fleet host (`problem` None when healthy)."""
    previous: Optional[str]
    problem: Optional[str]
    switched_at: float
    checked_at: float


class SwitchBack(TypedDict):
    """finalize_release.switch_back: `current` back on `previous`; a reload or its health check may have failed."""
    switched_back_to: Optional[str]
    reload_problem: Optional[str]
    health_problem: Optional[str]


class Completed(TypedDict):
    """finalize_release.complete: the release recorded live, what pruning removed, the lock freed."""
    status: str
    previous: Optional[str]
    pruned: List[str]
    pruned_venvs: List[str]
    orphans_removed: List[str]


class SupervisedDeploy(TypedDict):
    """supervisor deploy: predeploy's result, then finalize's."""
    predeploy: PredeployResult
    finalize: Completed
    hook_failures: list


class SupervisedRollback(TypedDict):
    """supervisor rollback: what was unapplied (and backed up), then finalize's result."""
    migrate: SchemaRollback
    finalize: Completed


class DeployOutcome(TypedDict, total=False):
    """deploy_outcome: `state` running or dead (with the journal's `phase`), or done (with its releases.log
    `entry` and the live release)."""
    state: str
    phase: Optional[str]
    entry: Optional[dict]
    current: Optional[str]


class Unlocked(TypedDict):
    """server_admin "unlock": who held the lock (and the deploy under it), whether it was removed, what a dead
    holder's journal was recovered to, and the stale uploads removed."""
    lock: Optional[LockInfo]
    removed: bool
    recovered: Optional[str]
    leftovers: List[str]


class SharedMedia(TypedDict, total=False):
    """media.share: MEDIA_ROOT and the shared directory it lives in, or a warning when it is outside the deploy path."""
    media_root: str
    shared: str
    warning: str
