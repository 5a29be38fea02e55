"""The shapes of entry results the client reads by key (typing only: the runner sends plain JSON objects)."""
from typing import Dict, List, Optional, Tuple, TypedDict, Union

MigrationState = Dict[str, List[str]]  # app label -> its applied migrations, in file order


class DatabaseInfo(TypedDict, total=False):
    """django_info.database_info: one DATABASES entry as the client sees it (never its password)."""
    alias: str
    engine: str
    vendor: str
    name: str
    host: str
    port: str
    user: str
    exists: bool  # SQLite: the file is there
    reachable: bool
    error: str


class MigrationFile(TypedDict):
    """One migration file of an app in introspection."""
    name: str
    applied: Optional[str]
    is_applied: bool
    order: int
    reversible: bool
    children: List[str]


class AppMigrations(TypedDict):
    migrations: List[MigrationFile]
    leaves: List[str]
    conflicts: List[str]


class PlanStep(TypedDict, total=False):
    """One migration `migrate` would run, in order."""
    app: str
    name: str
    backwards: bool
    reversible: bool
    operations: List[str]
    sql: str  # deploy_plan only


class CheckMessage(TypedDict):
    level: str
    id: str
    message: str


class Introspection(TypedDict, total=False):
    """introspect: everything the checklist, status and plans read, from one Django start-up."""
    django: str
    python: str
    database: DatabaseInfo
    apps: Dict[str, AppMigrations]
    conflicts: Dict[str, List[str]]
    unknown_applied: List[str]
    other_databases: List[dict]  # DATABASES' other aliases: [{alias, apps (whose tables `migrate --database` makes)}]
    lint: dict
    plan: List[PlanStep]
    changes: Dict[str, List[dict]]
    changes_error: str
    schema: dict
    health: dict  # the live release's health check URL asked once: {url, problem (None: it answered 200)}
    lock: dict  # `inv check` of a uv project: {ok, detail} of `uv lock --check`
    live: bool  # `fab check`'s live section: pending migrations are needed by the code that serves
    checks: List[CheckMessage]


class DeployPlan(TypedDict, total=False):
    """deploy_plan: what a deploy of a staged release would change, before it changes anything."""
    introspection: Introspection
    requirements: dict
    revision_diff: list
    static: dict


class MediaInBackup(TypedDict, total=False):
    """A backup manifest's "media": the MEDIA_ROOT archive beside the dump."""
    file: str
    sha256: str
    files: int
    bytes: int
    size: int
    media_root: str
    created: str
    path: str  # media_backup's answer only: the archive's full path


class BackupManifest(TypedDict, total=False):
    """The manifest written beside every backup (<dump>.json), and the backup entry's answer."""
    file: str
    path: str
    engine: str
    database: str
    db_host: str
    db_port: Optional[str]
    host: str
    created: str
    size: int
    sha256: str
    migrations: MigrationState
    verified: str
    method: str
    compression: str
    dump_tool: str
    tool: str
    seconds: float
    notice: str
    database_alias: str
    other_databases: List[str]  # DATABASES' other aliases, not in this backup (`backup` only)
    reason: str  # safety backups: why it was taken
    media: MediaInBackup
    leftovers: List[str]
    pruned: List[str]
    present: bool  # list_backups: the dump is there
    sha256_ok: bool  # list_backups with verify


class BackupListing(TypedDict):
    """list_backups: the backups of a directory, newest first."""
    dir: str
    backups: List[BackupManifest]


class RequirementsReport(TypedDict):
    """requirements_hash: whether the venv's install stamp matches the requirements."""
    hash: str
    python: str
    stamp: Optional[str]
    venv_ok: bool


class SuperuserResult(TypedDict, total=False):
    superusers: int
    created: bool
    exists: bool


class VenvBuilt(TypedDict, total=False):
    returncode: int
    stdout: str
    stderr: str
    bytecode_linked: int  # built: the .pyc files taken from the live venv (bytecode.py)
    cache_repaired: bool  # uv failed on a damaged cache, uv_cache.repair_dangling mended it, the build ran again


class VenvAbandoned(TypedDict):
    gone: bool  # the client went away: the build was stopped and its venv removed


VenvBuild = Union[VenvBuilt, VenvAbandoned]


class StaticCollected(TypedDict, total=False):
    """static_files.collect / the collect_static entry (collectstatic None: nothing to collect)."""
    collectstatic: Optional[str]
    static_root: str
    collected_into: str
    linked: int
    served_from: str
    warning: str


class DatabaseCreated(TypedDict):
    """create_database.main: the database `inv setup` created (None: not this one, not a server database, or
    created meanwhile by someone else)."""
    created: Optional[str]
    vendor: str


class DatabaseVendor(TypedDict):
    """database_vendor.main: a DATABASES entry's backend vendor (postgresql, mysql, sqlite, oracle, or a third
    party's)."""
    vendor: str


class HealthRequest(TypedDict, total=False):
    """health_diagnosis.main: the health URL asked again inside a release through Django's test client."""
    raised: str  # `Type: message (path/in/project.py:line)`
    status: int  # its status when nothing was raised


class FleetStaged(TypedDict, total=False):
    """fleet_stage: a staged release checked and its static files collected, the database untouched."""
    media: "SharedMedia"
    collectstatic: Optional[str]
    static: StaticCollected


class MediaRestored(TypedDict, total=False):
    """media_restore: prepare (staging, media_root, files, bytes) or discard (discarded); swap_staged, in a
    restore's answer: media_root, safety, pruned, or failed (why the live media stayed)."""
    staging: str
    media_root: str
    files: int
    bytes: int
    discarded: str
    safety: str
    pruned: List[str]
    failed: str


class MediaDelta(TypedDict, total=False):
    """media_delta: the delta written beside an archive (or, with remove, the one removed)."""
    path: str
    size: int
    sha256: str
    copied: int
    literal: int
    removed: str


class MigrationComparison(TypedDict):
    """One app of a backup against the code it is restored under (manifests.compare_migrations)."""
    backup_applied: int
    backup_latest: Optional[str]
    code_latest: Optional[str]
    code_total: int
    missing: List[str]
    unknown: List[str]


class EarlySafety(TypedDict, total=False):
    """early_safety.main (its answer goes nowhere: the restore reads {lock}/early-safety.json): how it ended."""
    state: str  # done, skipped (not PostgreSQL) or failed
    path: str


class Loaded(TypedDict):
    """restore.warm: the project is loaded; the command waits for the restore request."""
    loaded: bool


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
    media: MediaRestored
    other_databases: List[str]  # DATABASES' other aliases: not restored, they keep their current data


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
    holder_gone: bool  # server_admin.held_lock: the process it names has ended


class ReleaseListing(TypedDict):
    """server_admin "releases": the live release, every release (oldest first), the lock if held."""
    current: Optional[str]
    releases: List[ReleaseRow]
    lock: Optional[LockInfo]


class History(TypedDict):
    """server_admin "history": releases.log's newest entries (newest first), the lock if held."""
    entries: List[dict]
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
    bytecode_taken: int  # the project's modules whose bytecode came from the live release (bytecode.py)
    current: Optional[str]
    current_meta: Optional[ReleaseMeta]
    marked_bad: List[str]
    recovered: Optional[str]
    guard: dict
    venv_build: VenvBuild  # when the request asked for the build and the venv was not ready
    deploy_digest: Optional[str]  # live_match.deploy_digest, kept in the release's meta once it is live
    unchanged: bool  # the live release already serves this revision as it would be built: nothing was prepared


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
    copied_while_dumping: bool  # the rehearsal's copy was loaded from the backup's dump as it was made
    state_after: MigrationState
    warm_start: bool  # this Django was a Python of the live venv started during the fetch (warm_start.py)


class SchemaRollback(TypedDict, total=False):
    """migrate.to_state: the migrations to unapply (check_only), and what was backed up and unapplied."""
    unapply: List[str]
    irreversible: List[str]
    missing: List[str]  # migrations the target's recorded state has and the database has not: refused (going forward)
    backup: str
    unapplied: List[str]
    left_behind: List[str]  # report_leftovers on MySQL/MariaDB: what a migration stopped half-way left in the schema
    switch_first: bool  # check_only: the target serves over the schema before the unapply (migrate.target_code_fits)


class Reapplied(TypedDict):
    """fleet_step "reapply": what re-applying the live release's migrations did, one phrase."""
    summary: str


class LeftBehind(TypedDict):
    """migrate.left_behind: what a migration or its reverse stopped half-way left in a MySQL/MariaDB schema."""
    left_behind: List[str]


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
    put_back: List[List[Optional[str]]]  # [shared file, where the one that failed was set aside], see went_live


class Completed(TypedDict):
    """finalize_release.complete: the release recorded live, what pruning removed, the lock freed."""
    status: str
    previous: Optional[str]
    pruned: List[str]
    pruned_venvs: List[str]
    orphans_removed: List[str]
    uv_cache: Optional[dict]  # uv_cache.prune_unused's report once venvs were pruned, else None
    old_venv_users: Optional[List[Tuple[int, str]]]  # processes still on the left release's venv (None: same venv)


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


class Undone(TypedDict, total=False):
    """recovery.undo (the fleet's undo action): a deploy or rollback taken back."""
    summary: str
    unapplied: List[str]
    switched_back_to: Optional[str]


class Unhealthy(SwitchBack):
    """finalize_release when the new release failed its health check: switched back."""
    status: str  # "unhealthy"
    problem: str


class Ready(TypedDict):
    """fleet_step ready: the server's clock when the host was ready to switch."""
    time: float


class Locked(TypedDict, total=False):
    """server_admin lock: the lock taken for a rollback, restore or upload."""
    current: Optional[str]
    releases: List[ReleaseRow]
    recovered: Optional[str]
    code_from: Optional[str]
    upload: str
    guard: dict
    taking: Optional[str]  # this taking's token: an abort releases that taking only


class Aborted(TypedDict, total=False):
    """server_admin "abort": the release removed; lost_lock when the lock was taken over since (left to its taker)."""
    aborted: Optional[str]
    lost_lock: str


class Reloaded(TypedDict):
    reloaded: bool
