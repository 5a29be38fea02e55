"""What the task collections import when `inv`/`fab` start: every command pays it before its first step
(docs/benchmarks.md, "Client start-up"). Each check runs in a fresh interpreter."""
import json
import subprocess
import sys

HEAVY = ("fabric", "paramiko", "rich.table", "rich.progress")


def loaded_after(statement):
    code = f"import sys; {statement}; import json; print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_the_inv_collection_loads_neither_fabric_nor_paramiko_nor_rich_tables_or_progress_bars():
    assert loaded_after("import invoke.main; from deploytasks.local import ns") == []


def test_the_fab_collection_adds_no_rich_tables_or_progress_bars_to_fabric():
    assert loaded_after("import fabric.main; from deploytasks.remote import ns") == ["fabric", "paramiko"]


def test_a_table_still_renders_once_asked_for(capsys):
    from deploytasks.output import show, table

    show(table("Backups", ["name", "size"], [["a.sqlite3", 3]]))
    assert "a.sqlite3" in capsys.readouterr().out


def test_under_fabric_is_false_for_invoke_contexts_and_true_for_fabric_connections():
    import fabric
    import invoke

    from deploytasks.target import under_fabric

    assert not under_fabric(invoke.Context())
    assert under_fabric(fabric.Connection("example.invalid"))
