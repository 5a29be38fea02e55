"""`inv TASK --help` answers with the help even for tasks whose positional argument would swallow `--help`."""
import pytest
from invoke import Collection, Context, task
from invoke.exceptions import ParseError
from invoke.parser import Parser

from deploytasks.local import ns as local_ns
from deploytasks.remote import ns as remote_ns
from deploytasks.task_help import answer_help_in


def test_a_positional_task_given_help_prints_its_help_instead_of_running(capsys):
    ran = []

    @task(help={"file": "the backup to restore"})
    def restore(c, file):
        """Restore a backup."""
        ran.append(file)

    collection = Collection(restore)
    answer_help_in(collection, program="fab")
    collection["restore"](Context(), "--help")
    out = capsys.readouterr().out
    assert ran == []
    assert out.startswith("Usage: fab [--core-opts] restore [--options]")
    assert "Restore a backup." in out and "the backup to restore" in out


def test_a_positional_task_given_a_value_runs():
    ran = []

    @task
    def restore(c, file):
        """Restore a backup."""
        ran.append(file)

    collection = Collection(restore)
    answer_help_in(collection)
    collection["restore"](Context(), "backup.sqlite3")
    assert ran == ["backup.sqlite3"]


def parsed(collection, *argv):
    """The task contexts Invoke's parser makes of a command line after `inv`."""
    return Parser(contexts=collection.to_contexts()).parse_argv(list(argv))


def test_help_after_a_task_with_two_positionals_parses_and_prints_the_help_instead_of_running(capsys):
    ran = []

    @task(help={"app": "app label", "target": "where to migrate it"})
    def migrate(c, app, target):
        """Migrate an app."""
        ran.append((app, target))

    collection = Collection(migrate)
    answer_help_in(collection, program="fab")
    for argv in (["migrate", "--help"], ["migrate", "-h"], ["migrate", "accounts", "--help"]):
        [context] = parsed(collection, *argv)
        collection["migrate"](Context(), **context.as_kwargs)
        out = capsys.readouterr().out
        assert out.startswith("Usage: fab [--core-opts] migrate [--options]"), argv
        assert "Migrate an app." in out and "app label" in out and "where to migrate it" in out, (argv, out)
    assert ran == []


def test_a_task_with_two_positionals_still_takes_both_and_still_requires_both():
    ran = []

    @task
    def migrate(c, app, target):
        """Migrate an app."""
        ran.append((app, target))

    collection = Collection(migrate)
    answer_help_in(collection)
    [context] = parsed(collection, "migrate", "accounts", "zero")
    collection["migrate"](Context(), **context.as_kwargs)
    assert ran == [("accounts", "zero")]
    with pytest.raises(ParseError, match="did not receive required positional arguments: 'target'"):
        parsed(collection, "migrate", "accounts")


def test_every_positional_task_of_both_collections_parses_help_in_place_of_its_positionals():
    for collection in (local_ns, remote_ns):
        for name in collection.task_names:
            if collection[name].positional:
                [context] = parsed(collection, name, "--help")
                assert "--help" in context.as_kwargs.values(), name


def test_every_task_of_both_collections_has_a_docstring():
    for collection in (local_ns, remote_ns):
        for name in collection.task_names:
            assert (collection[name].__doc__ or "").strip(), name
