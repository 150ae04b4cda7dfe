"""The demo organization is seeded by one command (``manage.py seed_demo``) in steps that each app
registers from its own ``demo.py``, so the command needs to know no app:

    @demo.register("access", order=20)
    def seed_step(run: demo.DemoRun) -> list[str]:
        counts = seed_access_demo()
        return [f"Access: {counts['applications']} applications, …"]

A step seeds its app idempotently and returns the lines the command prints. Steps run in ``order``
(the people first: every other step seeds around them); a step that needs what an earlier one made
reads it from the ``DemoRun`` (the demo logins, for instance)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings


@dataclass
class DemoRun:
    """What the command was asked for, and what earlier steps left for later ones."""

    users: int
    seed: int
    password: str
    # (email, role label) of the people whose password is printed; set by the people step.
    logins: list[tuple[str, str]] = field(default_factory=list)


Step = Callable[[DemoRun], Iterable[str]]


@dataclass(frozen=True)
class DemoStep:
    name: str
    order: int
    run: Step


_STEPS: dict[str, DemoStep] = {}


def register(name: str, *, order: int) -> Callable[[Step], Step]:
    """Register a seeding step under a unique ``name``; lower ``order`` runs first."""

    def decorator(step: Step) -> Step:
        existing = _STEPS.get(name)
        if existing is not None and existing.order != order:
            raise ValueError(f"Demo step {name!r} is registered twice with different orders.")
        _STEPS[name] = DemoStep(name=name, order=order, run=step)
        return step

    return decorator


def discover() -> None:
    """Import the ``demo`` module of every installed app of the project (third-party apps have none)."""
    base, environment = Path(settings.BASE_DIR).resolve(), Path(sys.prefix).resolve()
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if not path.is_relative_to(base) or path.is_relative_to(environment):  # the venv may sit in the tree
            continue
        name = f"{config.name}.demo"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def steps() -> list[DemoStep]:
    """Every registered step, in the order they run."""
    discover()
    return sorted(_STEPS.values(), key=lambda step: (step.order, step.name))
