"""Checklist items that say what a deploy would risk: the migration safety lint and schema drift."""
PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
SEE_PLAN = " — see `fab plan` for why and what to do instead"


def lint_item(info):
    """The "migration safety" item from an introspection's lint (None when no plan was computed)."""
    report = info.get("lint")
    if report is None:
        return None
    findings = report["findings"]
    reviewed = f" ({len(report['reviewed'])} reviewed as safe: {', '.join(report['reviewed'])})" if report["reviewed"] else ""
    if report.get("new_database"):
        return {"item": "migration safety", "verdict": PASS, "findings": [],
                "detail": "no migration applied yet: nothing live uses the database, nothing to flag"}
    if not findings:
        return {"item": "migration safety", "verdict": PASS, "detail": "no pending operation flagged" + reviewed,
                "findings": []}
    shown = "; ".join(f"{f['migration']}: {f['operation']} [{f['rule']}]" for f in findings[:4])
    more = f" … ({len(findings)} in all)" if len(findings) > 4 else ""
    return {"item": "migration safety", "verdict": FAIL if report["strict"] else WARN,
            "detail": shown + more + reviewed + (" (strict_migrations)" if report["strict"] else "")
                      + SEE_PLAN,
            "findings": findings}


def schema_item(info):
    """The "schema" item: the live schema against the one the applied migrations produce (None: not asked)."""
    drift = info.get("schema")
    if drift is None:
        return None
    if drift.get("skipped"):
        return {"item": "schema", "verdict": WARN, "detail": "not compared: " + drift["skipped"]}
    differences = drift["differences"]
    if not differences:
        return {"item": "schema", "verdict": PASS, "detail": f"{drift['tables']} tables match the applied migrations"}
    return {"item": "schema", "verdict": WARN,
            "detail": f"{len(differences)} difference(s) from the applied migrations: " + "; ".join(differences[:6])
                      + (" …" if len(differences) > 6 else ""), "differences": differences}


def items(info):
    return [item for item in (lint_item(info), schema_item(info)) if item is not None]
