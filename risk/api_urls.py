from django.urls import path

from risk import api

app_name = "risk-api"

urlpatterns = [
    path("telemetry/batches/<uuid:batch_id>", api.batch_status, name="telemetry-batch"),
    path("telemetry/<str:kind>", api.ingest, name="telemetry-ingest"),
]
