SCHEDULE = {
    # Spools of dead web processes on a worker's machine; live processes store their own, and a
    # restarted process replays at start. Workers on other machines find nothing and return.
    "access-replay-log-spools": {
        "task": "console.access.tasks.replay_access_log_spools",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
