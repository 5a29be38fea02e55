"""The shared media directory follows the project's MEDIA_ROOT (issue 10 §6): a MEDIA_ROOT in a sub-package is
linked into shared/ and outlives releases; one outside the deploy path is a warning."""
import os

ADDRESS = "127.0.0.54"


def test_media_root_decides_the_shared_media_directory(deployed, tmp_path):
    s = deployed
    release = s.path / "releases" / s.current_name()
    assert os.readlink(release / "media") == str(s.path / "shared" / "media")  # the example's BASE_DIR / "media"

    def move_media(work):
        settings = work / "mysite" / "settings.py"
        text = settings.read_text()
        assert 'BASE_DIR / "media"' in text
        settings.write_text(text.replace('BASE_DIR / "media"', 'BASE_DIR / "mysite" / "uploads"'))
    s.repo.commit("media in a sub-package", move_media)
    s.fab("deploy").ok()
    release = s.path / "releases" / s.current_name()
    shared = s.path / "shared" / "mysite" / "uploads"
    assert os.readlink(release / "mysite" / "uploads") == str(shared)
    (release / "mysite" / "uploads" / "avatar.png").write_bytes(b"png")

    s.repo.code_change()
    run = s.fab("deploy").ok()
    assert (s.path / "releases" / s.current_name() / "mysite" / "uploads" / "avatar.png").read_bytes() == b"png"
    assert "WARN media" not in run.stdout

    outside = tmp_path / "elsewhere-media"
    env_file = s.path / "shared" / ".env"
    original = env_file.read_text()
    env_file.write_text(original + f"MEDIA_ROOT={outside}\n")
    try:
        s.repo.code_change()
        warned = s.fab("deploy").ok()
    finally:
        env_file.write_text(original)
    assert f"WARN media: MEDIA_ROOT {outside} is outside the deploy path" in warned.stdout, warned.stdout
