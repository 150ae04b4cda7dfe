"""The demo command runs the steps every app's demo.py registers, in their order."""

import pytest

from console.core import demo


def test_every_app_registers_its_demo_step_and_they_run_people_first():
    assert [step.name for step in demo.steps()] == [
        "people", "access", "risk", "onboarding", "shadow_ai", "casb", "logins", "mfa",
    ]


def test_a_step_name_registered_again_with_another_order_is_refused():
    demo.steps()
    with pytest.raises(ValueError, match="'risk' is registered twice"):
        demo.register("risk", order=1)(lambda run: [])
    assert [s.order for s in demo.steps() if s.name == "risk"] == [30]
