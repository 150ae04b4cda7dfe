SCHEDULE = {
    "idp-clear-expired": {
        "task": "console.access.idp.tasks.clear_expired",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
}
