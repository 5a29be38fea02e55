"""deploytasks init: when no Python can run the settings, the reason given is the one of the first Python with
Django (the project's own venv: its settings' real problem), not the last one tried (init_facts._introspect)."""
import sys

from deploytasks.init_facts import Facts, _introspect


def fake_python(path, stderr_line):
    """An interpreter that fails the way a real one would, its last stderr line `stderr_line`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho \"{stderr_line}\" >&2\nexit 1\n")
    path.chmod(0o755)
    return path


def test_the_projects_venv_reason_is_given_over_the_pythons_without_django_tried_after_it(tmp_path, monkeypatch):
    root = tmp_path / "site"
    fake_python(root / ".venv" / "bin" / "python", "django.core.exceptions.ImproperlyConfigured: Set the "
                                                   "DJANGO_ADMIN_URL environment variable")
    running = fake_python(tmp_path / "tools" / "bin" / "python3", "ModuleNotFoundError: No module named 'django'")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setattr(sys, "executable", str(running))
    facts = Facts(root=str(root))
    assert _introspect(facts) is False
    assert facts.unknown == [f"could not run the settings ({root}/.venv/bin/python: django.core.exceptions."
                             "ImproperlyConfigured: Set the DJANGO_ADMIN_URL environment variable); read them "
                             "statically instead"]


def test_a_venv_without_django_gives_way_to_a_python_with_it(tmp_path, monkeypatch):
    root = tmp_path / "site"
    fake_python(root / ".venv" / "bin" / "python", "ModuleNotFoundError: No module named 'django'")
    active = fake_python(tmp_path / "active" / "bin" / "python", "KeyError: 'DJANGO_ADMIN_URL'")
    monkeypatch.setenv("VIRTUAL_ENV", str(active.parent.parent))
    monkeypatch.setattr(sys, "executable", str(fake_python(tmp_path / "tools" / "bin" / "python3",
                                                          "ModuleNotFoundError: No module named 'django'")))
    facts = Facts(root=str(root))
    assert _introspect(facts) is False
    assert f"({active}: KeyError: 'DJANGO_ADMIN_URL')" in facts.unknown[0]


def test_when_no_python_has_django_the_first_ones_reason_is_given(tmp_path, monkeypatch):
    root = tmp_path / "site"
    fake_python(root / ".venv" / "bin" / "python", "ModuleNotFoundError: No module named 'django'")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    broken = fake_python(tmp_path / "tools" / "bin" / "python3", "")
    broken.chmod(0o644)  # cannot even start: no Django known either
    monkeypatch.setattr(sys, "executable", str(broken))
    facts = Facts(root=str(root))
    _introspect(facts)
    assert f"({root}/.venv/bin/python: ModuleNotFoundError: No module named 'django')" in facts.unknown[0]
