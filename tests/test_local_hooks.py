"""Hooks around `inv setup`'s steps (issue 14 §3): real hooks on a copy of the example project, run by the real
`inv`: manage.py hooks with the venv and the env file, shell hooks in the project dir, in step order; a failing hook
stops setup with one line; bad config is one line; Invoke pre/post tasks for Python hooks."""
from __future__ import annotations

import json

from tests._util import assert_user_error, example_django_version

LOG = "hooks.log"


def configure(site, hooks, **more):
    settings = {"venv": str(site.venv), **({"hooks": hooks} if hooks is not None else {}), **more}
    (site.root / "invoke.yaml").write_text(json.dumps({"deploytasks": settings}) + "\n")


def test_setup_runs_manage_py_and_shell_hooks_around_its_steps_in_order(site):
    (site.root / ".env").write_text("HOOK_SECRET=from-the-env-file\n")
    record = "import os, django; open('hooks.log', 'a').write('after install ' + django.get_version() + ' ' + os.environ['HOOK_SECRET'] + chr(10))"
    configure(site, {
        "before": {"venv": [f"echo before venv >> {LOG}"],
                   "collectstatic": [f"echo before collectstatic $HOOK_SECRET >> {LOG}",
                                     f"test ! -d staticfiles && echo no static yet >> {LOG}"]},
        "after": {"install": [f"manage.py shell -c \"{record}\""],
                  "migrate": [f"python -c 'import django' && echo after migrate venv python >> {LOG}"],
                  "collectstatic": [f"test -d staticfiles && echo after collectstatic >> {LOG}"]},
    })
    result = site.inv("setup", "--no-superuser")
    assert result.returncode == 0, result.stderr + result.stdout
    assert (site.root / LOG).read_text().splitlines() == [
        "before venv",
        f"after install {example_django_version()} from-the-env-file",
        "after migrate venv python",
        "before collectstatic from-the-env-file",
        "no static yet",
        "after collectstatic",
    ]
    assert "hook after install: manage.py shell" in result.stdout
    assert "from-the-env-file" not in result.stdout + result.stderr  # the env file's values are not echoed


def test_a_failing_hook_stops_setup_with_one_line_naming_it(site):
    configure(site, {"before": {"collectstatic": ["echo starting; echo 'webpack: bundle broken' >&2; exit 3"]},
                     "after": {"collectstatic": [f"echo never >> {LOG}"]}})
    result = site.inv("setup", "--no-superuser")
    line = assert_user_error(result, "hook", "before collectstatic", "(exit 3)", "webpack: bundle broken")
    assert "echo starting" in line
    assert not (site.root / "staticfiles").exists()  # the step it guards did not run
    assert not (site.root / LOG).exists()


def test_a_failing_manage_py_hook_names_its_error_not_the_traceback_head(site):
    configure(site, {"after": {"migrate": ["manage.py nosuchcommand"]}})
    result = site.inv("setup", "--no-superuser")
    assert_user_error(result, "hook 'manage.py nosuchcommand' after migrate failed (exit 1)", "nosuchcommand")


def test_bad_hooks_config_is_one_line_and_changes_nothing(site):
    for hooks, fragment in (
        ({"after": {"instal": ["manage.py check"]}}, "unknown step 'instal' (did you mean install?)"),
        ({"after": {"install": "manage.py check"}}, "deploytasks.hooks.after.install must be a list of commands"),
        ({"afterwards": {"install": ["x"]}}, "unknown moment 'afterwards'"),
    ):
        configure(site, hooks)
        assert_user_error(site.inv("setup", "--no-superuser"), fragment)
        assert not site.db.exists()
    configure(site, None)  # in the one config file (Invoke's own files cannot merge a list over a mapping)
    (site.root / "deploytasks.yaml").write_text('deploytasks:\n  hooks: ["manage.py check"]\n')
    assert_user_error(site.inv("setup", "--no-superuser"), "deploytasks.hooks must be a mapping")
    assert not site.db.exists()


def test_dry_setup_lists_the_hooks_without_running_them(site):
    configure(site, {"after": {"install": [f"echo ran >> {LOG}"]}})
    result = site.inv("--dry", "setup", "--no-superuser")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "dry-run:" in result.stdout and f"echo ran >> {LOG}" in result.stdout
    assert not (site.root / LOG).exists()


def test_python_hooks_are_invoke_pre_and_post_tasks(site):
    configure(site, {})
    (site.root / "tasks.py").write_text(
        "from pathlib import Path\n"
        "from invoke import task\n"
        "from deploytasks.local import ns, setup\n\n\n"
        "@task\n"
        "def warm(c):\n"
        '    """Python hook: runs after setup."""\n'
        "    Path('python-hook.txt').write_text('db exists: %s' % Path('db.sqlite3').exists())\n\n\n"
        "@task(pre=[setup], post=[warm])\n"
        "def bootstrap(c):\n"
        '    """setup, then the Python hook."""\n\n\n'
        "ns.add_task(warm)\n"
        "ns.add_task(bootstrap)\n"
    )
    result = site.inv("bootstrap")
    assert result.returncode == 0, result.stderr + result.stdout
    assert (site.root / "python-hook.txt").read_text() == "db exists: True"
