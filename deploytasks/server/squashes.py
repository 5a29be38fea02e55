"""Squashed migrations (`replaces`) counted the way Django's migrate and showmigrations count them.

Django records the replaced migrations and, once all of them are applied, the squashed one too. Its
MigrationLoader then counts the squashed migration applied exactly when every migration it replaces is, keeps
it in the graph in place of them (unless only some are applied), and never calls the replaced names unknown.
These functions take a loader (django.db.migrations.loader.MigrationLoader) and apply the same rules to a set
of recorded (app, name) pairs, so that a backup's django_migrations rows are read as Django would read them."""


def graph_order(loader):
    """[(app, name)] of every migration in the graph, each after its dependencies (one order for all apps)."""
    order, seen = [], set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                order.append(key)
    return order


def replaced(loader):
    """{(app, name) of a replaced migration: (app, name) of the squashed migration replacing it}."""
    return {tuple(target): key for key, migration in loader.replacements.items() for target in migration.replaces}


def counts_applied(loader, recorded):
    """Graph keys that count as applied when `recorded` (a set of (app, name)) is what django_migrations holds."""
    recorded = set(recorded)
    applied = set()
    for key in loader.graph.nodes:
        migration = loader.graph.nodes[key]
        replaces = getattr(migration, "replaces", None) or []
        if key in loader.replacements and replaces:
            if all(tuple(target) in recorded for target in replaces):
                applied.add(key)
        elif key in recorded:
            applied.add(key)
    return applied


def unknown(loader, recorded):
    """Recorded (app, name) pairs the code knows nothing of, sorted: not in the graph, not a migration file, and
    not replaced by a squashed migration (apps without migrations in the code are left out, as Django does)."""
    apps = {app for app, _ in loader.graph.nodes}
    known = set(loader.graph.nodes) | set(getattr(loader, "disk_migrations", {}) or {}) | set(replaced(loader))
    return sorted(key for key in set(recorded) if key[0] in apps and key not in known)


def state(loader, recorded):
    """{app: [names that count as applied, in graph order]} for the apps of the graph that have any."""
    applied = counts_applied(loader, recorded)
    result = {}
    for key in graph_order(loader):
        if key in applied:
            result.setdefault(key[0], []).append(key[1])
    return result


def recorded_keys(by_app):
    """{app: [names]} (a backup's or a release's record) as a set of (app, name)."""
    return {(app, name) for app, names in (by_app or {}).items() for name in names}


def with_replaced(loader, keys):
    """`keys` (a release's recorded state: the names that counted as applied, a squashed migration in place of
    those it replaces) with the migrations each squashed one replaces: what django_migrations held for it, so
    that state() counts it applied. Without them a squashed migration applied on a fresh database, recorded
    under its own name only, would read as not applied and a rollback would unapply its app to zero."""
    keys = set(keys)
    for key in list(keys):
        migration = loader.replacements.get(key)
        keys.update(tuple(target) for target in (getattr(migration, "replaces", None) or []))
    return keys


def latest(loader, recorded):
    """{app: the last migration, in graph order, that counts as applied}."""
    return {app: names[-1] for app, names in state(loader, recorded).items() if names}


def applied_at(loader, times):
    """{graph key: applied time} from {recorded key: time}; a squashed migration Django has not recorded yet
    (it was applied as the migrations it replaces) takes the latest of theirs."""
    result = {}
    for key in counts_applied(loader, times):
        if key in times:
            result[key] = times[key]
        else:
            stamps = [times.get(tuple(t)) for t in loader.graph.nodes[key].replaces]
            result[key] = max((s for s in stamps if s), default=None)
    return result
