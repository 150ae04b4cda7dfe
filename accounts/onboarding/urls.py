from django.urls import path

from accounts.onboarding import views

app_name = "onboarding"

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("new/", views.case_create, name="case-create"),
    path("cases/<int:case_id>/", views.case_detail, name="case-detail"),
    path("cases/<int:case_id>/resend/", views.case_resend, name="case-resend"),
    path("cases/<int:case_id>/cancel/", views.case_cancel, name="case-cancel"),
    path("verifications/", views.verification_list, name="verification-list"),
    path("outbox/", views.outbox_list, name="outbox"),
    path("outbox/<int:message_id>/", views.outbox_detail, name="outbox-detail"),
    path("invite/<str:token>/", views.invite, name="invite"),
    path("retry/", views.retry, name="retry"),
    path("verify/callback/", views.callback, name="callback"),
    path("welcome/", views.portal, name="portal"),
    path("welcome/finish/", views.finish, name="finish"),
    path("verify/", views.verify, name="verify"),
    path("verify/replace-authenticators/", views.replace_authenticators, name="replace-authenticators"),
    path("recover/", views.recover, name="recover"),
    path("recover/waiting/", views.recover_waiting, name="recover-waiting"),
    path("recover/report/<str:token>/", views.recover_report, name="recover-report"),
    path("recover/old-authenticators/", views.recover_old, name="recover-old"),
    path("recoveries/", views.recovery_list, name="recovery-list"),
    path("recoveries/action/", views.recovery_action, name="recovery-action"),
]
