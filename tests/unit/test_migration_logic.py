"""Migration targets, unapply lists and the checklist's verdicts, computed from an introspection (no Django run)."""
import pytest

from deploytasks import checklist
from deploytasks.checklist import pending
from deploytasks.errors import DeployTasksError
from deploytasks.migration_graph import guard_backwards, resolve_target, unapply_list


def migration(name, applied=None, reversible=True, children=()):
    return {"name": name, "is_applied": applied is not None, "applied": applied, "reversible": reversible,
            "children": list(children)}


def introspection(**overrides):
    """accounts 0001..0003 (0003 pending), shop 0001 depends on accounts.0002; everything reversible."""
    info = {
        "database": {"vendor": "sqlite", "name": "db.sqlite3", "reachable": True},
        "apps": {
            "accounts": {"migrations": [
                migration("0001_initial", "2026-01-01T00:00:00", children=["accounts.0002_email"]),
                migration("0002_email", "2026-01-02T00:00:00", children=["accounts.0003_phone", "shop.0001_initial"]),
                migration("0003_phone"),
            ]},
            "shop": {"migrations": [migration("0001_initial", "2026-01-03T00:00:00")]},
        },
        "conflicts": {},
        "changes": {},
        "checks": [],
        "plan": [{"app": "accounts", "name": "0003_phone", "reversible": True}],
    }
    info.update(overrides)
    return info


def test_a_target_before_applied_migrations_goes_backwards():
    assert resolve_target(introspection(), "accounts", "0001") == ("0001_initial", "backwards")


def test_a_pending_target_goes_forwards_and_the_latest_applied_one_nowhere():
    assert resolve_target(introspection(), "accounts", "0003_phone") == ("0003_phone", "forwards")
    assert resolve_target(introspection(), "accounts", "0002_email") == ("0002_email", "none")


def test_zero_goes_backwards_only_when_something_is_applied():
    info = introspection()
    assert resolve_target(info, "accounts", "zero") == ("zero", "backwards")
    info["apps"]["accounts"]["migrations"] = [migration("0001_initial")]
    assert resolve_target(info, "accounts", "zero") == ("zero", "none")


def test_an_exact_name_wins_over_the_prefix_it_shares_with_others():
    info = introspection()
    info["apps"]["accounts"]["migrations"].append(migration("0002_email_more"))
    assert resolve_target(info, "accounts", "0002_email")[0] == "0002_email"


def test_an_ambiguous_prefix_names_every_match():
    with pytest.raises(DeployTasksError, match=r"'000' matches several accounts migrations \(0001_initial, "
                                               r"0002_email, 0003_phone\): be more specific"):
        resolve_target(introspection(), "accounts", "000")


def test_an_unknown_app_lists_the_apps_with_migrations():
    with pytest.raises(DeployTasksError, match=r"no app labelled 'blog' with migrations "
                                               r"\(apps with migrations: accounts, shop\)"):
        resolve_target(introspection(), "blog", "zero")


def test_an_unknown_migration_points_at_migrations_status():
    with pytest.raises(DeployTasksError, match="accounts has no migration '0009': run `inv migrations.status`"):
        resolve_target(introspection(), "accounts", "0009")


def test_the_migrations_status_hint_names_the_program_the_user_typed():
    with pytest.raises(DeployTasksError, match="run `fab migrations.status`"):
        resolve_target(introspection(), "accounts", "0009", "fab")


def test_going_back_unapplies_the_dependants_in_other_apps_newest_first():
    to_unapply, _ = unapply_list(introspection(), "accounts", "0001_initial")
    assert to_unapply == ["shop.0001_initial", "accounts.0002_email"]


def test_pending_migrations_are_not_in_the_unapply_list():
    to_unapply, _ = unapply_list(introspection(), "accounts", "zero")
    assert "accounts.0003_phone" not in to_unapply and to_unapply[-1] == "accounts.0001_initial"


def test_an_irreversible_dependant_stops_the_way_back_and_names_the_restore():
    info = introspection()
    info["apps"]["shop"]["migrations"][0]["reversible"] = False
    with pytest.raises(DeployTasksError, match=r"^shop.0001_initial is irreversible, so accounts cannot migrate "
                                               r"back to 0001_initial: restore a backup taken before it instead$"):
        guard_backwards(info, "accounts", "0001_initial")


def test_a_reversible_way_back_returns_what_it_unapplies():
    assert guard_backwards(introspection(), "shop", "zero") == ["shop.0001_initial"]


def test_pending_lists_app_dot_name():
    assert pending(introspection()) == ["accounts.0003_phone"]


def verdicts(info):
    return {item["item"]: item["verdict"] for item in checklist.items(info)}


def test_a_clean_project_with_pending_migrations_warns_and_does_not_fail():
    result = verdicts(introspection())
    assert result == {"migrations": "WARN", "model changes": "PASS", "check --database": "PASS",
                      "conflicts": "PASS", "migrate --plan": "PASS"}
    assert not checklist.failed(checklist.items(introspection()))


def test_model_changes_without_migrations_fail_the_checklist():
    items = checklist.items(introspection(changes={"shop": ["Add field price to item"]}))
    assert {i["item"]: i for i in items}["model changes"]["detail"] == (
        "models changed without migrations in shop: run `manage.py makemigrations`")
    assert checklist.failed(items)


def test_conflicting_leaves_fail_with_the_merge_advice():
    items = checklist.items(introspection(conflicts={"shop": ["0002_a", "0002_b"]}, plan=None))
    detail = {i["item"]: i for i in items}["conflicts"]["detail"]
    assert "shop: 0002_a, 0002_b" in detail and "makemigrations --merge" in detail
    assert verdicts(introspection(conflicts={"shop": ["0002_a", "0002_b"]}, plan=None))["migrate --plan"] == "WARN"


def test_system_check_errors_fail_and_warnings_warn():
    error = {"level": "error", "id": "fields.E304", "message": "Reverse accessor clashes.\nHint: add related_name"}
    warning = {"level": "warning", "id": "security.W004", "message": "no HSTS"}
    assert verdicts(introspection(checks=[error, warning]))["check --database"] == "FAIL"
    assert verdicts(introspection(checks=[warning]))["check --database"] == "WARN"
    detail = {i["item"]: i for i in checklist.items(introspection(checks=[error]))}["check --database"]["detail"]
    assert detail == "1 error(s): Reverse accessor clashes."


def test_an_irreversible_migration_in_the_plan_warns_and_is_named():
    plan = [{"app": "shop", "name": "0002_drop", "reversible": False}]
    items = {i["item"]: i for i in checklist.items(introspection(plan=plan))}
    assert items["migrate --plan"]["verdict"] == "WARN" and "(irreversible: shop.0002_drop)" in items["migrate --plan"]["detail"]


def test_an_unreachable_database_fails_first():
    database = {"vendor": "postgresql", "name": "site", "reachable": False, "error": "connection refused"}
    items = checklist.items(introspection(database=database, plan=None))
    assert items[0] == {"item": "database", "verdict": "FAIL",
                        "detail": "cannot read postgresql database site: connection refused"}


def test_migrations_applied_but_unknown_to_the_code_warn():
    items = {i["item"]: i for i in checklist.items(introspection(unknown_applied=["shop.0009_gone"]))}
    assert items["unknown migrations"]["verdict"] == "WARN"
    detail = items["unknown migrations"]["detail"]
    assert "shop.0009_gone" in detail and "`manage.py migrate --prune` drops their rows" in detail
