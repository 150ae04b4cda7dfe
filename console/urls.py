from django.urls import include, path

urlpatterns = [
    path("", include("console.core.urls")),
    path("accounts/", include("accounts.urls")),
    path("audit/", include("console.audit.urls")),
]

handler403 = "console.core.errors_views.forbidden"
handler404 = "console.core.errors_views.not_found"
