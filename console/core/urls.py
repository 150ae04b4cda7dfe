from django.urls import path

from console.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("launcher/", views.launcher, name="launcher"),
    path("system/health/", views.health_page, name="health"),
    path("system/health/worker-check/", views.worker_check_start, name="worker-check-start"),
    path("system/health/worker-check/<int:check_id>/", views.worker_check_status, name="worker-check"),
    path("healthz", views.healthz, name="healthz"),
]
