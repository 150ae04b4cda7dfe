"""Every write of risk scoring, one module per subject: behaviour settings, telemetry sources,
ingest batches, detection, scores and rescores, investigators' actions, and job queueing."""
