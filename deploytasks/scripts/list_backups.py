# List the backups (dump + manifest pairs) in a directory, newest first.
rows = []
directory = PARAMS["dir"]
if os.path.isdir(directory):
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json"):
            continue
        dump = os.path.join(directory, entry[:-5])
        try:
            with open(os.path.join(directory, entry)) as handle:
                manifest = json.load(handle)
            written = os.stat(os.path.join(directory, entry)).st_mtime_ns  # orders same-second backups
        except (OSError, ValueError):
            continue
        manifest["path"] = dump
        manifest["present"] = os.path.exists(dump)
        if manifest["present"] and PARAMS.get("verify"):
            manifest["sha256_ok"] = sha256_of(dump) == manifest.get("sha256")
        rows.append((manifest.get("created", ""), written, manifest))
rows.sort(key=lambda row: row[:2], reverse=True)
emit({"dir": directory, "backups": [manifest for _, _, manifest in rows]})
