import logging
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .models import Course, CourseLink, Plan

logger = logging.getLogger(__name__)


def read_revision(base_dir=settings.BASE_DIR):
    """The deployed revision: deploy tooling writes it to BASE_DIR/REVISION
    in every release. Outside a release (a plain checkout) it is "dev"."""
    try:
        text = (Path(base_dir) / "REVISION").read_text(errors="replace")
    except OSError:
        return "dev"
    return text.strip() or "dev"


# Read once per process: a release directory never changes after deploy.
REVISION = read_revision()


@never_cache
@require_safe
def health(request):
    """Liveness/readiness probe used by deploy scripts and load balancers.

    Touches no template, static file, session or cache, so it works with
    DEBUG off before collectstatic has run.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.error("Health check failed: database error: %s", exc)
        return JsonResponse(
            {
                "status": "error",
                "database": str(exc) or exc.__class__.__name__,
                "revision": REVISION,
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok", "revision": REVISION})


def home(request):
    plans = Plan.objects.filter(is_active=True).prefetch_related(
        Prefetch("courses", queryset=Course.objects.filter(is_published=True))
    )
    return render(request, "accounts/home.html", {"plans": plans})


def plan_detail(request, slug):
    plan = get_object_or_404(Plan, slug=slug, is_active=True)
    courses = plan.courses.filter(is_published=True).prefetch_related(
        Prefetch("links", queryset=CourseLink.objects.filter(is_active=True))
    )
    return render(
        request, "accounts/plan_detail.html", {"plan": plan, "courses": courses}
    )
