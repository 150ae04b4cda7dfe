"""Every write to people, groups and identity providers, one module per subject. Each service
checks what the actor's role allows, runs in one transaction and writes its audit row in it."""
