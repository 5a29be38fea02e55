"""The requirements digest that decides whether a venv is reused."""
import pytest

from deploytasks.server.errors import ServerError
from deploytasks.server.requirements import read_stamp, report, requirements_digest


def test_the_digest_follows_requirement_and_constraint_includes(tmp_path):
    (tmp_path / "base.txt").write_text("django==5.2\n")
    (tmp_path / "constraints.txt").write_text("sqlparse<1\n")
    main = tmp_path / "requirements.txt"
    main.write_text("-r base.txt\n--constraint=constraints.txt\ngunicorn\n")
    before = requirements_digest(str(main), "3.12.0")
    (tmp_path / "constraints.txt").write_text("sqlparse<2\n")
    assert requirements_digest(str(main), "3.12.0") != before
    (tmp_path / "base.txt").write_text("django==5.1\n")
    assert requirements_digest(str(main), "3.12.0") != before


def test_the_digest_changes_with_the_python_version_and_survives_an_include_cycle(tmp_path):
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    assert requirements_digest(str(tmp_path / "a.txt"), "3.12.0") != requirements_digest(str(tmp_path / "a.txt"), "3.13.0")


def test_a_missing_include_is_a_one_line_error_naming_it(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r missing.txt\n")
    with pytest.raises(ServerError, match=r"missing.txt not found: .*requirements.txt includes it \(-r/-c\); fix that line"):
        requirements_digest(str(tmp_path / "requirements.txt"))


def test_a_missing_file_names_the_setting_that_names_it(tmp_path):
    with pytest.raises(ServerError, match="dev.txt not found: set deploytasks.local_requirements to"):
        report({"requirements": str(tmp_path / "dev.txt"), "setting": "local_requirements"})
    with pytest.raises(ServerError, match="prod.txt not found: set deploytasks.requirements to"):
        report({"requirements": str(tmp_path / "prod.txt")})


def test_the_report_compares_the_stamp(tmp_path):
    (tmp_path / "requirements.txt").write_text("django\n")
    (tmp_path / "stamp").write_text("abc\n")
    result = report({"requirements": str(tmp_path / "requirements.txt"), "stamp": str(tmp_path / "stamp")})
    assert result["stamp"] == "abc" and result["venv_ok"] is False
    assert read_stamp(str(tmp_path / "absent")) is None


def test_a_missing_requirements_file_beside_a_uv_lock_names_the_setting_that_takes_it(tmp_path):
    (tmp_path / "uv.lock").write_text("version = 1\n")
    with pytest.raises(ServerError, match=r"requirements.txt not found, and the project has a uv.lock: set "
                                          r"deploytasks.requirements = \"uv.lock\""):
        report({"requirements": str(tmp_path / "requirements.txt")})
