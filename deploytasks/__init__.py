"""Invoke and Fabric tasks that set up, check, deploy, back up and restore Django projects."""

__version__ = "0.2.0"
