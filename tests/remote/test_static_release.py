"""Static files per release (issue 9, "Also noticed"): collectstatic writes into the new release's own directory,
so a deploy that fails after it never changes what the live release serves, the path a web server serves
follows the switch, and a rollback serves the old release's files again. Covered for STATIC_ROOT inside the
release (the example's BASE_DIR / "staticfiles") and for a shared one ({path}/shared/static)."""
import os
import secrets
import shutil

ADDRESS = "127.0.0.150"

SITE_CSS = ("static", "css", "site.css")


def change_css(repo, marker, failing_model=None):
    """A commit appending `marker` to static/css/site.css; with failing_model, on its own branch (named after the
    model) together with a model whose migration applies and a migration that raises."""
    def edit(work):
        with open(work.joinpath(*SITE_CSS), "a") as handle:
            handle.write(f"\n/* {marker} */\n")
        if failing_model:
            repo.write_failing_model(failing_model)
    return repo.commit(f"css {marker}", edit, branch=failing_model.lower() if failing_model else "main")


def served_css(s, root):
    return (root / "css" / "site.css").read_text()


def test_static_files_follow_the_release(deployed):
    s = deployed
    current_static = s.path / "current" / "staticfiles"
    live = s.path / "releases" / s.current_name()
    assert (live / "staticfiles").is_dir() and not (live / "staticfiles").is_symlink()
    before = served_css(s, current_static)
    live_inode = os.stat(live / "staticfiles" / "css" / "site.css").st_ino

    # a deploy that fails after collectstatic (its migration raises) with a changed site.css
    broken = f"broken-{secrets.token_hex(4)}"
    change_css(s.repo, broken, failing_model="StaticBoom")
    s.fab("deploy", "--revision", "staticboom").error("deliberate failure")
    assert s.current_name() == live.name
    assert served_css(s, current_static) == before and broken not in before
    assert os.stat(live / "staticfiles" / "css" / "site.css").st_ino == live_inode

    # a successful deploy: current/staticfiles serves the new file; unchanged files are hard links, not copies
    fixed = f"fixed-{secrets.token_hex(4)}"
    change_css(s.repo, fixed)
    run = s.fab("deploy").ok()
    new = s.path / "releases" / s.current_name()
    assert new != live
    assert fixed in served_css(s, current_static)
    assert served_css(s, live / "staticfiles") == before  # the previous release keeps its own copy
    assert os.path.samefile(new / "staticfiles" / "js" / "site.js", live / "staticfiles" / "js" / "site.js")
    assert not os.path.samefile(new / "staticfiles" / "css" / "site.css", live / "staticfiles" / "css" / "site.css")
    assert "WARN static" not in run.stdout
    assert "unchanged: hard-linked to the live release's" in " ".join(run.stdout.split()), run.stdout

    # rollback: current/staticfiles serves the old file again
    s.fab("rollback", "--yes").ok()
    assert s.current_name() == live.name
    assert served_css(s, current_static) == before


def collected(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_code_change_takes_the_live_collected_files_and_a_changed_env_collects_again(deployed):
    """Nothing collectstatic reads changed (a code change): the live release's collected files are hard-linked
    and collectstatic does not run; a changed setting (.env on the server) makes it run."""
    s = deployed
    s.repo.code_change()
    s.fab("deploy").ok()  # the live release records what its collectstatic read
    live = s.path / "releases" / s.current_name()
    s.repo.code_change()
    run = s.fab("deploy").ok()
    new = s.path / "releases" / s.current_name()
    assert new != live
    assert "collectstatic not run" in " ".join(run.stdout.split()), run.stdout
    assert collected(new / "staticfiles") == collected(live / "staticfiles") != []
    assert all(os.path.samefile(new / "staticfiles" / f, live / "staticfiles" / f) for f in collected(new / "staticfiles"))
    env_file = s.path / "shared" / ".env"
    original = env_file.read_text()
    env_file.write_text(original + "TIME_ZONE=Europe/Paris\n")
    try:
        s.repo.code_change()
        run = s.fab("deploy").ok()
        assert "static files copied" in run.stdout and "collectstatic not run" not in run.stdout, run.stdout
    finally:
        env_file.write_text(original)


def test_shared_static_root_becomes_per_release(deployed, closed_port):
    s = deployed
    env_file = s.path / "shared" / ".env"
    shared_static = s.path / "shared" / "static"
    original = env_file.read_text()
    env_file.write_text(original + f"STATIC_ROOT={shared_static}\n")
    try:
        # today's layout: a real directory collected in place (as an older deploytasks, or by hand, left it)
        shared_static.mkdir(parents=True, exist_ok=True)
        (shared_static / "css").mkdir(exist_ok=True)
        (shared_static / "css" / "site.css").write_text("old shared css\n")
        s.repo.code_change()
        s.fab("deploy").ok()
        first = s.path / "releases" / s.current_name()
        before = served_css(s, shared_static)

        broken = f"broken-{secrets.token_hex(4)}"
        change_css(s.repo, broken, failing_model="SharedStaticBoom")
        s.fab("deploy", "--revision", "sharedstaticboom").error("deliberate failure")
        assert s.current_name() == first.name
        assert served_css(s, shared_static) == before and broken not in before
        assert os.readlink(shared_static) == str(s.path / "current" / "collected_static")
        assert (first / "collected_static" / "css" / "site.css").is_file()

        # a failing health check: switched to the new release, then back; its static files go back with it
        unhealthy = f"unhealthy-{secrets.token_hex(4)}"
        change_css(s.repo, unhealthy)
        s.configure(healthcheck=f"http://127.0.0.1:{closed_port}/health/", healthcheck_retries=2, healthcheck_delay=0.1)
        try:
            s.fab("deploy").error("health check")
        finally:
            s.configure(healthcheck="")
            s.settings.pop("healthcheck_retries")
            s.settings.pop("healthcheck_delay")
            s.configure()
        assert s.current_name() == first.name
        assert served_css(s, shared_static) == before

        fixed = f"fixed-{secrets.token_hex(4)}"
        change_css(s.repo, fixed)
        s.fab("deploy").ok()
        assert s.current_name() != first.name
        assert fixed in served_css(s, shared_static)

        s.fab("rollback", "--yes").ok()
        assert s.current_name() == first.name
        assert served_css(s, shared_static) == before
    finally:
        env_file.write_text(original)


def test_static_root_outside_the_deploy_path_is_a_warning(deployed, tmp_path):
    s = deployed
    env_file = s.path / "shared" / ".env"
    outside = tmp_path / "elsewhere-static"
    original = env_file.read_text()
    env_file.write_text(original + f"STATIC_ROOT={outside}\n")
    try:
        s.repo.code_change()
        run = s.fab("deploy").ok()
    finally:
        env_file.write_text(original)
    assert f"WARN static: STATIC_ROOT {outside} is outside the deploy path" in run.stdout, run.stdout
    assert (outside / "css" / "site.css").is_file()


def test_static_root_listed_in_shared_dirs_is_kept_per_release(deployed):
    s = deployed
    shared = s.path / "shared" / "staticfiles"
    s.configure(shared_dirs=["media", "staticfiles"])
    try:
        s.repo.code_change()
        s.fab("deploy").ok()
        first = s.path / "releases" / s.current_name()
        assert (first / "staticfiles").is_dir() and not (first / "staticfiles").is_symlink()
        assert os.readlink(shared) == str(s.path / "current" / "staticfiles")
        before = served_css(s, shared)

        broken = f"broken-{secrets.token_hex(4)}"
        change_css(s.repo, broken, failing_model="SharedDirsBoom")
        s.fab("deploy", "--revision", "shareddirsboom").error("deliberate failure")
        assert s.current_name() == first.name and served_css(s, shared) == before

        fixed = f"fixed-{secrets.token_hex(4)}"
        change_css(s.repo, fixed)
        s.fab("deploy").ok()
        assert fixed in served_css(s, shared) and served_css(s, first / "staticfiles") == before
    finally:
        s.settings.pop("shared_dirs")
        s.configure()


def test_a_rollback_to_a_release_made_before_per_release_static_serves_its_files(deployed):
    """The target release has no collected_static of its own (it was made when the shared STATIC_ROOT was a real
    directory), and that path now follows current/collected_static: the rollback collects into it first."""
    s = deployed
    env_file = s.path / "shared" / ".env"
    shared_static = s.path / "shared" / "static"
    original = env_file.read_text()
    env_file.write_text(original + f"STATIC_ROOT={shared_static}\n")
    try:
        old = f"old-{secrets.token_hex(4)}"
        change_css(s.repo, old)
        s.fab("deploy").ok()
        first = s.path / "releases" / s.current_name()
        change_css(s.repo, f"new-{secrets.token_hex(4)}")
        s.fab("deploy").ok()
        assert os.readlink(shared_static) == str(s.path / "current" / "collected_static")
        # what a release made before per-release static looks like: nothing collected inside it
        shutil.rmtree(first / "collected_static")
        s.fab("rollback", "--to", first.name, "--yes").ok()
        assert s.current_name() == first.name
        assert old in served_css(s, shared_static)
        assert (first / "collected_static" / "css" / "site.css").is_file()
    finally:
        env_file.write_text(original)


def test_a_rollback_to_a_release_whose_static_dir_was_a_shared_link_serves_its_files(deployed):
    """Older releases had the static dir listed in shared_dirs linked into shared/, which now links to
    current/staticfiles: switched to as they are, the path would loop. The rollback gives it its own copy."""
    s = deployed
    shared = s.path / "shared" / "staticfiles"
    s.configure(shared_dirs=["media", "staticfiles"])
    try:
        old = f"old-{secrets.token_hex(4)}"
        change_css(s.repo, old)
        s.fab("deploy").ok()
        first = s.path / "releases" / s.current_name()
        change_css(s.repo, f"new-{secrets.token_hex(4)}")
        s.fab("deploy").ok()
        shutil.rmtree(first / "staticfiles")
        (first / "staticfiles").symlink_to(shared)  # as an older deploytasks linked it
        s.fab("rollback", "--to", first.name, "--yes").ok()
        assert s.current_name() == first.name
        assert not (first / "staticfiles").is_symlink()
        assert old in served_css(s, shared)
    finally:
        s.settings.pop("shared_dirs")
        s.configure()


def fresh_path(s, fresh):
    """A second deploy path on the same server, set up (with the module's uv) and with its own database: the env
    that points fab at it."""
    tools = fresh / ".deploytasks"
    tools.mkdir(parents=True)
    for name in ("uv", "uv-cache"):
        if os.path.lexists(s.path / ".deploytasks" / name):
            (tools / name).symlink_to(os.readlink(s.path / ".deploytasks" / name))
    env = {"FABRIC_DEPLOYTASKS_PATH": str(fresh)}
    s.fab("setup", env=env).ok()
    env_file = fresh / "shared" / ".env"
    env_file.write_text(env_file.read_text().replace(str(s.path), str(fresh)))
    return env


def test_a_failed_first_deploy_with_the_static_dir_in_shared_dirs_leaves_no_dangling_link(deployed, tmp_path):
    """A first deploy collects, points shared/staticfiles at current/staticfiles, then fails: with nothing live
    the link would lead nowhere (and the next deploy's prepare could not link it)."""
    s = deployed
    fresh = tmp_path / "fresh-srv"
    env = fresh_path(s, fresh)
    s.configure(shared_dirs=["media", "staticfiles"])
    try:
        change_css(s.repo, f"first-{secrets.token_hex(4)}", failing_model="FirstStaticBoom")
        s.fab("deploy", "--revision", "firststaticboom", env=env).error("deliberate failure")
        shared = fresh / "shared" / "staticfiles"
        assert not os.path.lexists(fresh / "current")
        assert not (os.path.islink(shared) and not os.path.exists(shared)), f"{shared} -> {os.readlink(shared)}"
        s.fab("deploy", "--revision", "main", env=env).ok()
        assert os.readlink(shared) == str(fresh / "current" / "staticfiles")
        assert (shared / "css" / "site.css").is_file()
    finally:
        s.settings.pop("shared_dirs")
        s.configure()


def test_the_next_deploy_repairs_a_dangling_static_link_left_by_a_crash(deployed, tmp_path):
    """The link left by a first deploy whose server side died before it could undo anything."""
    s = deployed
    fresh = tmp_path / "crashed-srv"
    env = fresh_path(s, fresh)
    (fresh / "shared" / "staticfiles").symlink_to(fresh / "current" / "staticfiles")
    s.configure(shared_dirs=["media", "staticfiles"])
    try:
        s.fab("deploy", "--revision", "main", env=env).ok()
        assert (fresh / "shared" / "staticfiles" / "css" / "site.css").is_file()
    finally:
        s.settings.pop("shared_dirs")
        s.configure()
