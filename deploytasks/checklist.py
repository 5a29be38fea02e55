"""The pre-deployment checklist: one verdict per item, from one introspection (the logic is server/checklist.py,
shipped to servers too, so that a deploy is gated by the very checklist `inv check` shows)."""
from .server.checklist import FAIL, PASS, WARN, failed, items, pending

__all__ = ["FAIL", "PASS", "WARN", "failed", "items", "pending"]
