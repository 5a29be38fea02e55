from pathlib import Path
from tempfile import TemporaryDirectory
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, TestCase
from django.urls import reverse

from mysite.settings import parse_database_url

from . import views
from .models import Plan, SiteSettings, User


class ParseDatabaseUrlTests(SimpleTestCase):
    def test_sqlite_relative_path_is_relative_to_base_dir(self):
        config = parse_database_url("sqlite:///data/db.sqlite3", base_dir="/srv/app")
        self.assertEqual(config["ENGINE"], "django.db.backends.sqlite3")
        self.assertEqual(config["NAME"], "/srv/app/data/db.sqlite3")
        self.assertIn("journal_mode=WAL", config["OPTIONS"]["init_command"])

    def test_sqlite_absolute_path(self):
        config = parse_database_url("sqlite:////tmp/x/other.sqlite3")
        self.assertEqual(config["NAME"], "/tmp/x/other.sqlite3")

    def test_postgres_credentials_are_url_decoded(self):
        config = parse_database_url(
            "postgres://app%40prod:p%40ss%3Aword@db.internal:5433/my_db?sslmode=require"
        )
        self.assertEqual(config["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(config["USER"], "app@prod")
        self.assertEqual(config["PASSWORD"], "p@ss:word")
        self.assertEqual(config["HOST"], "db.internal")
        self.assertEqual(config["PORT"], "5433")
        self.assertEqual(config["NAME"], "my_db")
        self.assertEqual(config["OPTIONS"], {"sslmode": "require"})

    def test_postgresql_scheme_and_default_port(self):
        config = parse_database_url("postgresql://u:p@localhost/app")
        self.assertEqual(config["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(config["PORT"], "")

    def test_mysql(self):
        config = parse_database_url("mysql://root:secret@127.0.0.1:3306/shop")
        self.assertEqual(config["ENGINE"], "django.db.backends.mysql")
        self.assertEqual(
            (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]),
            ("root", "secret", "127.0.0.1", "3306"),
        )

    def test_unsupported_scheme(self):
        with self.assertRaises(ImproperlyConfigured):
            parse_database_url("redis://localhost/0")


class RevisionTests(SimpleTestCase):
    def test_reads_and_strips_revision_file(self):
        with TemporaryDirectory() as tmp:
            Path(tmp, "REVISION").write_text("abc1234\n")
            self.assertEqual(views.read_revision(tmp), "abc1234")

    def test_dev_without_revision_file(self):
        with TemporaryDirectory() as tmp:
            self.assertEqual(views.read_revision(tmp), "dev")


class HealthTests(TestCase):
    def test_ok(self):
        response = self.client.get(reverse("accounts:health"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.json(),
            {"status": "ok", "database": "ok", "revision": views.REVISION},
        )

    def test_database_error(self):
        with mock.patch.object(
            views.connection, "cursor", side_effect=Exception("db is down")
        ):
            response = self.client.get(reverse("accounts:health"))
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["status"], "error")
        self.assertEqual(response.json()["database"], "db is down")


class PageTests(TestCase):
    def test_home_lists_active_plans_seeded_by_migrations(self):
        Plan.objects.filter(slug="elite").update(is_active=False)
        response = self.client.get(reverse("accounts:home"))
        self.assertContains(response, "Starter")
        self.assertContains(response, "Pro")
        self.assertNotContains(response, "Elite")

    def test_plan_detail(self):
        response = self.client.get(reverse("accounts:plan-detail", args=["starter"]))
        self.assertContains(response, "Starter")

    def test_site_settings_singleton(self):
        self.assertEqual(SiteSettings.objects.count(), 1)
        SiteSettings(site_name="Other").save()
        self.assertEqual(SiteSettings.objects.count(), 1)
        self.assertEqual(SiteSettings.load().site_name, "Other")


class UserTests(TestCase):
    def test_referral_codes_are_generated_and_unique(self):
        sponsor = User.objects.create_user("sponsor", password="x")
        member = User.objects.create_user("member", password="x", referred_by=sponsor)
        self.assertEqual(len(sponsor.referral_code), 8)
        self.assertNotEqual(sponsor.referral_code, member.referral_code)
        self.assertEqual(list(sponsor.direct_referrals.all()), [member])
