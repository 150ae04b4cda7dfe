from django.urls import path

from mfa import views

app_name = "mfa"

urlpatterns = [
    path("", views.devices, name="devices"),
    path("totp/", views.totp_setup, name="totp-setup"),
    path("webauthn/register/options/", views.webauthn_register_options, name="webauthn-register-options"),
    path("webauthn/register/complete/", views.webauthn_register_complete, name="webauthn-register-complete"),
    path("verify/", views.verify, name="verify"),
    path("verify/webauthn/options/", views.webauthn_verify_options, name="webauthn-verify-options"),
    path("verify/webauthn/complete/", views.webauthn_verify_complete, name="webauthn-verify-complete"),
    path("rename/", views.rename, name="rename"),
    path("remove/", views.remove, name="remove"),
    path("backup-codes/", views.backup_codes, name="backup-codes"),
    path("admin/", views.admin_list, name="admin-list"),
    path("settings/", views.org_settings, name="settings"),
    path("settings/console/", views.console_mfa_settings, name="console-settings"),
    path("admin/users/<int:user_id>/revoke/", views.admin_revoke, name="admin-revoke"),
]
