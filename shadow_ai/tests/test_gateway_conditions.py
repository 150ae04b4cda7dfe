"""The Gateway policy editor's rows turned into condition configurations, without a form or a request."""

import pytest

from accounts.tests.factories import GroupFactory
from console.core.errors import ValidationFailed
from shadow_ai.gateway.conditions import condition_config

pytestmark = pytest.mark.django_db


def test_group_names_become_ids_and_the_operator_defaults_to_in():
    sales = GroupFactory(name="Sales")
    assert condition_config({"type": "group", "values": "sales"}) == {
        "type": "group", "operator": "in", "values": [sales.pk],
    }


def test_a_score_condition_keeps_its_comparison_and_threshold():
    assert condition_config({"type": "genai_score", "comparison": "gte", "threshold": 3, "match_unscored": True}) == {
        "type": "genai_score", "comparison": "gte", "value": 3.0, "match_unscored": True,
    }


@pytest.mark.parametrize(("row", "message"), [
    ({"type": "group", "values": "Nobody"}, "Unknown group(s): Nobody."),
    ({"type": "hostname", "values": ""}, "Host: enter at least one value."),
    ({"type": "saas_score", "threshold": None}, "SaaS confidence score: enter a threshold from 0 to 5."),
    ({"type": "status", "statuses": []}, "Approval status: pick at least one."),
])
def test_a_wrong_row_is_refused_saying_what_is_wrong(row, message):
    with pytest.raises(ValidationFailed) as caught:
        condition_config(row)
    assert caught.value.message == message
