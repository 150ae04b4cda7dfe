from django.urls import path

from risk.ssf import views

app_name = "ssf"

urlpatterns = [
    path("streams/", views.stream_list, name="stream-list"),
    path("streams/new/", views.stream_create, name="stream-create"),
    path("streams/<int:stream_pk>/", views.stream_detail, name="stream-detail"),
    path("streams/<int:stream_pk>/edit/", views.stream_edit, name="stream-edit"),
    path("streams/<int:stream_pk>/status/", views.stream_status, name="stream-status"),
    path("streams/<int:stream_pk>/verify/", views.stream_verify, name="stream-verify"),
    path("streams/<int:stream_pk>/delete/", views.stream_delete, name="stream-delete"),
    path("streams/<int:stream_pk>/retry-failed/", views.stream_retry_failed, name="stream-retry-failed"),
    path("streams/<int:stream_pk>/subjects/", views.subject_list, name="subject-list"),
    path("streams/<int:stream_pk>/subjects/change/", views.subject_change, name="subject-change"),
    path("streams/<int:stream_pk>/subjects/<int:subject_id>/forget/", views.subject_forget, name="subject-forget"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:delivery_id>/retry/", views.delivery_retry, name="delivery-retry"),
    path("keys/", views.key_list, name="keys"),
    path("keys/rotate/", views.key_rotate, name="key-rotate"),
]
