from django.urls import path

from shadow_ai.casb import views

app_name = "casb"

urlpatterns = [
    path("integrations/", views.integration_list, name="integration-list"),
    path("integrations/new/", views.integration_new, name="integration-new"),
    path("integrations/new/<slug:vendor>/", views.integration_create, name="integration-create"),
    path("integrations/<int:integration_id>/", views.integration_detail, name="integration-detail"),
    path("integrations/<int:integration_id>/edit/", views.integration_edit, name="integration-edit"),
    path("integrations/<int:integration_id>/credentials/", views.integration_credentials,
         name="integration-credentials"),
    path("integrations/<int:integration_id>/test/", views.integration_test, name="integration-test"),
    path("integrations/<int:integration_id>/scan/", views.integration_scan, name="integration-scan"),
    path("integrations/<int:integration_id>/pause/", views.integration_pause, name="integration-pause"),
    path("integrations/<int:integration_id>/resume/", views.integration_resume, name="integration-resume"),
    path("integrations/<int:integration_id>/delete/", views.integration_delete, name="integration-delete"),
    path("scans/<int:scan_run_id>/", views.run_detail, name="run-detail"),
    path("scans/<int:scan_run_id>/progress/", views.run_progress, name="run-progress"),
    path("findings/", views.finding_list, name="finding-list"),
    path("findings/export/", views.finding_export, name="finding-export"),
    path("findings/<int:finding_id>/", views.finding_detail, name="finding-detail"),
    path("findings/<int:finding_id>/export/", views.finding_instances_export, name="finding-instances-export"),
    path("findings/<int:finding_id>/status/", views.finding_status, name="finding-status"),
    path("findings/<int:finding_id>/severity/", views.finding_severity, name="finding-severity"),
    path("findings/<int:finding_id>/block/", views.finding_block, name="finding-block"),
    path("instances/<int:instance_id>/status/", views.instance_status, name="instance-status"),
    path("instances/<int:instance_id>/block/", views.instance_block, name="instance-block"),
    path("discovered/", views.discovered_list, name="discovered-list"),
]
