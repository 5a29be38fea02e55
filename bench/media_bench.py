"""A second media backup (issue 14 §1): 1 GiB of media, 1 % of the files changed since the first backup.
What crosses the wire and how long it takes, over a real sshd on 127.0.0.131, in the same run:

- deploytasks: the local copy of the earlier archive names its contents (size + sha256 per file; hashed in
  the first run, read from the `.contents` file the rebuild wrote in the next ones), the server
  writes a delta of the new archive (server/media_delta.py), `ssh cat` brings it down, the archive is rebuilt
  and checked against its sha256 (what `fab backup --media` does after its first run);
- rsync by hand: `rsync -a` of the media directory into a local copy of its earlier state;
- whole archive: `ssh cat` of the new archive (what every `fab backup --media` did before).

The server's tar of the media is common to both archive contenders and not timed. Bytes: the delta's size,
rsync's "Total bytes received", the archive's size.

    .tooling/bin/python bench/media_bench.py --runs 3 [--size-mib 1024] [--no-write]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, fmt_summary, machine_description, median, start_server, timed, write_results  # noqa: E402

sys.path.insert(0, str(ROOT))
from deploytasks import media_fetch  # noqa: E402
from deploytasks.server import media_delta  # noqa: E402
from deploytasks.server.media_archive import CONTENTS, write_archive  # noqa: E402

HOST = "127.0.0.131"
FILE_SIZE = 1 << 20


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(media, path):
    """The server's archive and its `.contents`, as media_archive.backup writes them (not timed)."""
    contents = {}
    write_archive(str(media), str(path), contents)
    Path(str(path) + CONTENTS).write_text(json.dumps({"size": path.stat().st_size, "contents": contents}))


def fill(media, count):
    for n in range(count):
        directory = media / f"d{n // 100:02}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"upload{n:05}.bin").write_bytes(os.urandom(FILE_SIZE))


def change(media, count, changed, run):
    for n in range(0, count, count // changed):
        (media / f"d{n // 100:02}" / f"upload{n:05}.bin").write_bytes(os.urandom(FILE_SIZE))
    (media / f"new-{run}.bin").write_bytes(os.urandom(FILE_SIZE // 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="media-bench-"))
    server = start_server(work, HOST)
    ssh = ["ssh", "-F", str(server.ssh_config), server.alias]
    results = {"ours": [], "rsync": [], "whole": []}
    try:
        count = args.size_mib * (1 << 20) // FILE_SIZE
        changed = max(1, round(count * args.changed_percent / 100))
        media, server_dir, local_dir = work / "server" / "media", work / "server", work / "local"
        local_dir.mkdir()
        fill(media, count)
        first = server_dir / "first.media.tar"
        archive(media, first)
        shutil.copy(first, local_dir / first.name)  # the first backup's local copy
        rsync_copy = local_dir / "media"
        subprocess.run(["cp", "-a", str(media), str(rsync_copy)], check=True)
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}: changing {changed} of {count} files", flush=True)
            change(media, count, changed, run)
            second = server_dir / f"second-{run}.media.tar"
            archive(media, second)
            expected = sha256(second)
            previous = local_dir / first.name
            rebuilt = local_dir / second.name
            sent = {}

            def ours():
                known = media_fetch.contents(str(previous))  # from the .contents file a rebuild wrote
                request = json.dumps({"archive": str(second), "known": sorted(known)})
                code = ("import json, sys; sys.path.insert(0, %r); from deploytasks.server import media_delta; "
                        "print(json.dumps(media_delta.main(json.loads(sys.stdin.read()))))" % str(ROOT))
                delta = json.loads(subprocess.run(ssh + ["python3", "-c", _quote(code)], input=request, text=True,
                                                  capture_output=True, check=True).stdout)
                local_delta = local_dir / "delta"
                with open(local_delta, "wb") as out:
                    subprocess.run(ssh + ["cat", delta["path"]], stdout=out, check=True)
                found = media_delta.assemble(str(local_delta), str(previous), known, str(rebuilt))
                assert sha256(rebuilt) == expected, "rebuilt archive differs"
                media_fetch.remember(str(rebuilt), found)
                sent["ours"] = os.path.getsize(local_delta)
                os.unlink(local_delta)
                os.unlink(delta["path"])

            def by_rsync():
                out = subprocess.run(["rsync", "-a", "--delete", "--stats", "-e", f"ssh -F {server.ssh_config}",
                                      f"{server.alias}:{media}/", f"{rsync_copy}/"], capture_output=True, text=True,
                                     check=True).stdout
                sent["rsync"] = int(re.search(r"Total bytes received: ([\d,]+)", out).group(1).replace(",", ""))

            def whole():
                with open(local_dir / "whole.tar", "wb") as out:
                    subprocess.run(ssh + ["cat", str(second)], stdout=out, check=True)
                sent["whole"] = os.path.getsize(local_dir / "whole.tar")
                os.unlink(local_dir / "whole.tar")

            for name, action in (("ours", ours), ("rsync", by_rsync), ("whole", whole)):
                seconds = timed(action)
                results[name].append((seconds, sent[name]))
                print(f"  {name}: {seconds:.2f} s, {sent[name]:,} bytes", flush=True)
            os.replace(rebuilt, previous)  # the next run builds on this backup, as the next fab backup would
            os.replace(str(rebuilt) + media_fetch.CONTENTS, str(previous) + media_fetch.CONTENTS)
            os.replace(second, first)
            os.replace(str(second) + CONTENTS, str(first) + CONTENTS)
        table = report(results, args, count, changed, first.stat().st_size)
        print(table)
        if not args.no_write:
            write_results("Media: a second backup with 1 % of the files changed", table)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def report(results, args, count, changed, archive_size):
    names = {"ours": "deploytasks (delta of the archive)", "rsync": "`rsync -a` of the media directory",
             "whole": "whole archive (`ssh cat`)"}
    rows = []
    for key, label in names.items():
        seconds = [s for s, _ in results[key]]
        sent = median(b for _, b in results[key])
        rows.append(f"| {label} | {fmt_summary(seconds)} | {sent:,.0f} | {100 * sent / archive_size:.2f} % |")
    return (
        f"`bench/media_bench.py --runs {args.runs} --size-mib {args.size_mib}`: {count:,} files of 1 MiB "
        f"({archive_size:,} bytes as a tar); each run rewrites {changed} of them ({args.changed_percent:g} %) "
        f"and adds one of 256 KiB, then the second backup travels from a real sshd on {HOST} to a local "
        "directory holding the first. Medians (min-max) over the runs; bytes: what was received. Taken on a "
        "shared 2-CPU machine with other test suites running: compare the rows, not the absolute times.\n\n"
        + machine_description() + "\n"
        "| contender | wall time | bytes received | of the archive |\n|---|---:|---:|---:|\n" + "\n".join(rows) + "\n"
    )


if __name__ == "__main__":
    main()
