from django.urls import path

from console.access import views
from console.access.proxy import views as proxy_views

app_name = "access"

urlpatterns = [
    path("applications/", views.app_list, name="app-list"),
    path("applications/new/", views.app_create, name="app-create"),
    path("applications/<int:app_id>/", views.app_detail, name="app-detail"),
    path("applications/<int:app_id>/edit/", views.app_edit, name="app-edit"),
    path("applications/<int:app_id>/delete/", views.app_delete, name="app-delete"),
    path("applications/<int:app_id>/proxy/", proxy_views.connect, name="app-connect"),
    path("applications/<int:app_id>/logo/", views.app_logo, name="app-logo"),
    path("applications/<int:app_id>/launch/", views.launch, name="launch"),
    path("applications/<int:app_id>/policies/attach/", views.app_policy_attach, name="app-policy-attach"),
    path("applications/<int:app_id>/policies/<int:policy_id>/detach/", views.app_policy_detach,
         name="app-policy-detach"),
    path("applications/<int:app_id>/policies/<int:policy_id>/move/", views.app_policy_move, name="app-policy-move"),
    path("applications/<int:app_id>/sessions/revoke/", views.app_sessions_revoke, name="app-sessions-revoke"),
    path("policies/", views.policy_list, name="policy-list"),
    path("policies/new/", views.policy_create, name="policy-create"),
    path("policies/impact/", views.policy_impact, name="policy-impact"),
    path("policies/<int:policy_id>/", views.policy_detail, name="policy-detail"),
    path("policies/<int:policy_id>/edit/", views.policy_edit, name="policy-edit"),
    path("policies/<int:policy_id>/delete/", views.policy_delete, name="policy-delete"),
    path("tester/", views.tester, name="tester"),
    path("sessions/", views.session_list, name="session-list"),
    path("sessions/<uuid:session_id>/revoke/", views.session_revoke, name="session-revoke"),
    path("proxy/sign-in/", proxy_views.sign_in, name="proxy-sign-in"),
    path("sign-out-everywhere/", proxy_views.sign_out_everywhere, name="sign-out-everywhere"),
    path("users/<int:user_id>/sign-out-everywhere/", proxy_views.user_sign_out_everywhere,
         name="user-sign-out-everywhere"),
    path("users/<int:user_id>/sessions/revoke/", views.user_sessions_revoke, name="user-sessions-revoke"),
    path("service-tokens/", views.token_list, name="token-list"),
    path("service-tokens/new/", views.token_create, name="token-create"),
    path("service-tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("api-tokens/", views.apitoken_list, name="apitoken-list"),
    path("api-tokens/new/", views.apitoken_create, name="apitoken-create"),
    path("api-tokens/<int:token_id>/revoke/", views.apitoken_revoke, name="apitoken-revoke"),
    path("devices/", views.device_list, name="device-list"),
    path("devices/new/", views.device_create, name="device-create"),
    path("devices/<int:device_id>/edit/", views.device_edit, name="device-edit"),
    path("devices/<int:device_id>/delete/", views.device_delete, name="device-delete"),
    path("log/", views.log_list, name="log-list"),
    path("log/export.csv", views.log_export, name="log-export"),
]
