from django.urls import include, path

from console import views
from console.access import views as access_views
from console.access.idp import urls as idp_urls
from console.access.proxy import views as proxy_views

# The pages at the site's root, whichever app owns them (namespace "console").
root_pages = [
    path("", views.home, name="home"),
    path("launcher/", access_views.launcher, name="launcher"),
    path("system/health/", views.health_page, name="health"),
    path("system/health/worker-check/", views.worker_check_start, name="worker-check-start"),
    path("system/health/worker-check/<int:check_id>/", views.worker_check_status, name="worker-check"),
    path("healthz", views.healthz, name="healthz"),
]

# Reached on each protected application's own host, where its proxy routes /.access/ to the console.
app_host_pages = [
    path(".access/callback", proxy_views.callback, name="callback"),
    path(".access/logout", proxy_views.logout, name="logout"),
    path(".access/blocked", proxy_views.blocked, name="blocked"),
]

urlpatterns = [
    path("", include((root_pages, "console"))),
    path("", include((app_host_pages, "access-app"))),
    path("accounts/", include("accounts.urls")),
    path("audit/", include("console.audit.urls")),
    path("access/", include("console.access.urls")),
    path("access/oauth/", include((idp_urls.console_patterns, "idp"))),
    path("", include((idp_urls.protocol_patterns, "oauth2_provider"))),
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
    path("shadow-ai/prompts/", include("shadow_ai.prompts.urls")),
    path("shadow-ai/", include("shadow_ai.urls")),
]

handler403 = "console.core.errors_views.forbidden"
handler404 = "console.core.errors_views.not_found"
