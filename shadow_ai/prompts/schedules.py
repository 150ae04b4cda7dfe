SCHEDULE = {
    "prompt-log-prune": {
        "task": "shadow_ai.prompts.tasks.prune_prompt_log",
        "schedule": 3600.0,
    },
}
