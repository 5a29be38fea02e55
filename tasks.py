"""This repository's own tasks: the deploytasks collection, driving the bundled example project.

In your own project, tasks.py next to manage.py is just: `from deploytasks.local import ns`.
"""
from pathlib import Path

from deploytasks.local import ns

ns.configure({"deploytasks": {"project": str(Path(__file__).resolve().parent / "example")}})
