from django.urls import path

from shadow_ai import views
from shadow_ai.gateway import views as gateway_views
from shadow_ai.usage import views as usage_views

app_name = "shadow_ai"

urlpatterns = [
    path("dashboard/ai/", usage_views.usage_dashboard, name="dashboard"),
    path("dashboard/all/", usage_views.usage_dashboard, {"scope": "all"}, name="dashboard-all"),
    path("usage/status-people/", usage_views.status_people, name="usage-status-people"),
    path("usage/applications/", usage_views.usage_apps, name="usage-apps"),
    path("usage/people/", usage_views.usage_people, name="usage-people"),
    path("usage/person/", usage_views.usage_person, name="usage-person"),
    path("usage/rollup/", usage_views.rollup_start, name="usage-rollup"),
    path("usage/rollup/<int:usage_run_id>/", usage_views.rollup_status, name="usage-run"),
    path("library/", views.library, name="library"),
    path("library/new/", views.app_create, name="app-create"),
    path("library/status/", views.bulk_status, name="bulk-status"),
    path("library/<int:library_app_id>/", views.app_detail, name="app-detail"),
    path("library/<int:library_app_id>/edit/", views.app_edit, name="app-edit"),
    path("library/<int:library_app_id>/delete/", views.app_delete, name="app-delete"),
    path("library/<int:library_app_id>/status/", views.app_status, name="app-status"),
    path("library/<int:library_app_id>/evidence/", views.app_evidence, name="app-evidence"),
    path("policies/", views.policy_list, name="policy-list"),
    path("policies/new/", views.policy_create, name="policy-create"),
    path("policies/order/", views.policy_order, name="policy-order"),
    path("policies/<int:gateway_policy_id>/", views.policy_detail, name="policy-detail"),
    path("policies/<int:gateway_policy_id>/edit/", views.policy_edit, name="policy-edit"),
    path("policies/<int:gateway_policy_id>/delete/", views.policy_delete, name="policy-delete"),
    path("policies/<int:gateway_policy_id>/toggle/", views.policy_toggle, name="policy-toggle"),
    path("policies/<int:gateway_policy_id>/move/", views.policy_move, name="policy-move"),
    path("tester/", views.tester, name="tester"),
    path("blocked/", views.blocked, name="blocked"),
    path("gateway/", gateway_views.gateway_admin, name="gateway-admin"),
    path("gateway/rotate/", gateway_views.gateway_ca_rotate, name="gateway-ca-rotate"),
    path("gateway/mine/", gateway_views.gateway_mine, name="gateway-mine"),
    path("gateway/credentials/<int:gateway_credential_id>/revoke/", gateway_views.gateway_credential_revoke,
         name="gateway-credential-revoke"),
    path("gateway/ca.pem", gateway_views.gateway_ca_bundle, name="gateway-ca-bundle"),
    path("gateway/ca/<int:gateway_ca_id>.crt", gateway_views.gateway_ca_certificate, name="gateway-ca-certificate"),
    path("gateway/proxy.pac", gateway_views.gateway_pac, name="gateway-pac"),
]
