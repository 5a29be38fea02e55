from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("plans/<slug:slug>/", views.plan_detail, name="plan-detail"),
]
