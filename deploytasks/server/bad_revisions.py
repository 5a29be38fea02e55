"""Why a revision is known bad, from releases.log: a rollback marked its release bad, or its deploy failed the
health check. Read when the same revision is about to be deployed again."""
import json
import os


def log_entries(layout):
    if not os.path.exists(layout.log):
        return []
    entries = []
    with open(layout.log) as handle:
        for line in handle:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    return entries


def marks(layout, revision):
    """["<when>: <why>"] for each time `revision` was rolled back from or failed its health check."""
    entries = log_entries(layout)
    revision_of = {e.get("release"): e.get("revision") for e in entries
                   if e.get("action") == "deploy" and e.get("result") == "ok"}
    found = []
    for entry in entries:
        if entry.get("action") == "rollback" and entry.get("result") == "ok" \
                and revision_of.get(entry.get("from")) == revision:
            found.append("%s: release %s was rolled back (to %s by %s) and marked bad" % (
                entry.get("time", "?"), entry.get("from"), entry.get("release"), entry.get("by", "?")))
        elif entry.get("action") == "deploy" and entry.get("result") == "unhealthy" and entry.get("revision") == revision:
            found.append("%s: its deploy failed the health check (%s)" % (entry.get("time", "?"), entry.get("error", "?")))
    return found
