"""A PostgreSQL-backed deploy rehearses its migrations on a copy (issue 12 §4), through the real sshd: without
CREATEDB it says why it did not; with it, a migration failing on existing rows stops on the copy and
production is untouched; the copy is dropped either way."""
from tests.remote.postgres import SKIP, admin, psycopg
from tests.remote.test_postgres_backup import pg_deployed, rows  # noqa: F401 (fixture)

pytestmark = SKIP

ADDRESS = "127.0.0.61"


def unique_badge_names(s):
    """A commit making Badge.name unique (its migration fails on a table with duplicate names)."""
    def edit(work):
        models = work / "accounts" / "models.py"
        text = models.read_text()
        head, tail = text.rsplit("class Badge(models.Model):", 1)
        models.write_text(head + "class Badge(models.Model):" + tail.replace(
            "models.CharField(max_length=50)", "models.CharField(max_length=50, unique=True)", 1))
        s.repo.makemigrations("unique_badge_name")
    return s.repo.commit("unique badge names", edit)


def scratch(s):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as connection:
        found = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                   (s.pg["name"] + "\\_deploytasks\\_%",)).fetchall()
    return [name for (name,) in found]


def schema_and_rows(s):
    return (rows(s, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'accounts_badge' ORDER BY 1"),
            rows(s, "SELECT id, name FROM accounts_badge ORDER BY id"),
            rows(s, "SELECT app, name FROM django_migrations ORDER BY id"))


def test_rehearsals_on_a_postgresql_copy(pg_deployed):
    s = pg_deployed
    s.repo.add_model("Badge")
    first = s.fab("deploy").ok()
    assert "(not rehearsed on postgresql: the database user" in first.stdout and "CREATEDB" in first.stdout

    admin(f"ALTER ROLE {s.pg['name']} CREATEDB")
    rows(s, "INSERT INTO accounts_badge (name) VALUES ('gold'), ('gold')")
    unique_badge_names(s)
    before, live = schema_and_rows(s), s.current()
    s.fab("deploy").error("_unique_badge_name failed in the rehearsal on a copy of the database, nothing was applied",
                          "migration accounts.", "IntegrityError")
    assert schema_and_rows(s) == before and s.current() == live and not s.lock.exists()
    assert scratch(s) == []

    rows(s, "DELETE FROM accounts_badge WHERE id = (SELECT max(id) FROM accounts_badge)")
    done = s.fab("deploy").ok()
    assert "1 migration(s) rehearsed on a copy (restored as the backup was dumped), then applied" in done.stdout
    assert any("UNIQUE" in definition for _, definition in schema_and_rows(s)[0])
    assert scratch(s) == []
