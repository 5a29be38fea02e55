"""URL configuration for the example project.

/           home page listing active plans (accounts.views.home)
/health/    JSON health check used by the deploy tooling
/admin/     Django admin
"""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "MySite administration"
admin.site.site_title = "MySite admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
]

if settings.DEBUG:
    # In production the web server (nginx) serves MEDIA_ROOT directly.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
