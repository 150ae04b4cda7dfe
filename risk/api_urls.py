from django.urls import path

from risk import api

app_name = "risk-api"

urlpatterns = [
    path("telemetry/batches/<uuid:batch_id>", api.batch_status, name="telemetry-batch"),
    path("telemetry/<str:kind>", api.ingest, name="telemetry-ingest"),
    path("risk/behaviours", api.behaviours, name="risk-behaviours"),
    path("risk/users", api.scores, name="risk-users"),
    path("risk/users/<int:user_id>", api.person, name="risk-user"),
    path("risk/users/<int:user_id>/reset", api.reset, name="risk-reset"),
]
