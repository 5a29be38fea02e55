"""`inv TASK --help` answers with the help even for tasks whose positional argument would swallow `--help`."""
from invoke import Collection, Context, task

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


def test_every_task_of_both_collections_has_a_docstring():
    for collection in (local_ns, remote_ns):
        for name in collection.task_names:
            assert (collection[name].__doc__ or "").strip(), name
