from django.utils.functional import SimpleLazyObject

from .models import SiteSettings
from .views import REVISION


def site(request):
    """Expose the SiteSettings row (or None) and the deployed revision to
    every template. The row is only queried if a template uses ``site``."""
    return {
        "site": SimpleLazyObject(lambda: SiteSettings.objects.filter(pk=1).first()),
        "revision": REVISION,
    }
