"""`inv restore --media` onto a full disk (issue 14 §1, bad input): MEDIA_ROOT lives on a 2 MiB tmpfs (mounted in
a private mount namespace, `unshare --mount`), the archive holds more than fits. The extraction fails, what was
extracted is removed, the database is not restored, the live media is untouched."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys

from tests._util import backup_json, clean_env
from tests.test_local_media import fill_media


def namespace_prefix():
    return ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]


def test_restore_onto_a_full_disk_is_refused_with_live_media_and_database_untouched(migrated_site, tmp_path):
    site = migrated_site
    media = fill_media(site.root)
    (media / "big.bin").write_bytes(os.urandom(3 << 20))  # more than the tmpfs holds
    manifest = backup_json(site, "--media")
    (media / "big.bin").unlink()
    (media / "docs" / "terms.txt").write_text("live, newer than the backup\n")
    db = site.fingerprint()

    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    q = shlex.quote
    listing = f"(cd {q(str(small))} && find . -printf '%y %p %l\\n' | sort && find . -type f -exec sha256sum {{}} + | sort)"
    script = " && ".join([
        f"mount -t tmpfs -o size=2m tmpfs {q(str(small))}",
        f"cp -a {q(str(media))} {q(str(small / 'media'))}",
        f"mv {q(str(media))} {q(str(site.root / 'media.aside'))}",
        f"ln -s {q(str(small / 'media'))} {q(str(media))}",
        f"{listing} > {q(str(out / 'before'))}",
        f"{{ {q(sys.executable)} -m invoke restore {q(os.path.basename(manifest['path']))} --media --yes "
        f"> {q(str(out / 'stdout'))} 2> {q(str(out / 'stderr'))}; echo $? > {q(str(out / 'rc'))}; }}",
        f"{listing} > {q(str(out / 'after'))}",
        f"rm {q(str(media))}",
        f"mv {q(str(site.root / 'media.aside'))} {q(str(media))}",
    ])
    subprocess.run(namespace_prefix() + ["sh", "-c", script], cwd=site.root, env=clean_env(), check=True,
                   stdin=subprocess.DEVNULL, timeout=300)

    output = (out / "stdout").read_text() + (out / "stderr").read_text()
    assert (out / "rc").read_text().strip() == "1", output
    assert "No space left on device" in output and "the live media is untouched" in output, output
    assert "Traceback" not in output
    before = (out / "before").read_text()
    assert "terms.txt" in before and (out / "after").read_text() == before  # nothing staged left, nothing changed
    assert site.fingerprint() == db
    assert (media / "docs" / "terms.txt").read_text() == "live, newer than the backup\n"
