from django.urls import include, path

urlpatterns = [
    path("", include("console.core.urls")),
    path("accounts/", include("accounts.urls")),
    path("audit/", include("console.audit.urls")),
    path("access/", include("console.access.urls")),
    path("api/v1/gateway/", include("shadow_ai.api_urls")),
    path("api/v1/", include("console.access.api_urls")),
    path("mfa/", include("mfa.urls")),
    path("risk/", include("risk.urls")),
    path("api/v1/", include("risk.api_urls")),
    path("risk/ssf/", include("risk.ssf.urls")),
    path("", include("risk.ssf.api_urls")),
    path("onboarding/", include("accounts.onboarding.urls")),
    path("shadow-ai/casb/", include("shadow_ai.casb.urls")),
    path("shadow-ai/dlp/", include("shadow_ai.dlp.urls")),
    path("shadow-ai/", include("shadow_ai.urls")),
]

handler403 = "console.core.errors_views.forbidden"
handler404 = "console.core.errors_views.not_found"
