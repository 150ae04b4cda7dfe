"""The Microsoft 365 connector against Graph v1.0's own metadata: every replayed answer carries
only properties Graph v1.0 documents, every property the mapping reads is one Graph v1.0 has, and
the replayed Graph refuses a ``$select`` of a property v1.0 lacks, as Graph does."""

from __future__ import annotations

from shadow_ai.casb import schemacheck
from shadow_ai.casb.connectors.errors import BadRequest
from shadow_ai.casb.connectors.microsoft_365 import client
from shadow_ai.casb.connectors.microsoft_365.tests import payloads
from shadow_ai.casb.testing import SchemaWatch, collect

GRAPH = schemacheck.load("microsoft_graph_v1")


def test_every_replayed_answer_and_every_property_read_is_in_graph_v1(m365, vendor_server, monkeypatch):
    watch = SchemaWatch(GRAPH).attach(vendor_server, monkeypatch)
    connector, ctx = m365
    found = collect(connector, ctx)
    assert found.observations and not found.skipped
    assert watch.problems == []
    assert watch.undocumented_reads() == []
    # Only the identity platform's token endpoint is outside Graph.
    assert {r.split(" ", 1)[1] for r in watch.unchecked} == {f"/{payloads.TENANT}/oauth2/v2.0/token"}
    assert len(watch.checked) > 20
    read = watch.reads.read_paths()
    assert "value[].verifiedPublisher" in read and "value[].verifiedPublisher.displayName" in read


def test_every_selected_property_exists_in_graph_v1():
    for entity, fields in (("servicePrincipal", client.SERVICE_PRINCIPAL_FIELDS), ("user", client.USER_FIELDS),
                           ("user", client.PER_USER_FIELDS), ("application", client.APPLICATION_FIELDS),
                           ("driveItem", client.DRIVE_ITEM_FIELDS), ("site", client.SITE_FIELDS),
                           ("drive", client.DRIVE_FIELDS)):
        documented = schemacheck.properties(GRAPH, entity)
        assert [f for f in fields.split(",") if f not in documented] == [], entity


def test_the_replayed_graph_refuses_a_select_of_a_beta_only_property(m365, vendor_server):
    _connector, ctx = m365
    reply = None
    try:
        client.collection(ctx.http, "/v1.0/servicePrincipals", {"$select": "id,publisherName"})
    except BadRequest as exc:
        reply = exc.message
    assert reply is not None and "Could not find a property named 'publisherName'" in reply
    assert "microsoft.graph.servicePrincipal" in reply


def test_a_fixture_property_graph_lacks_and_a_read_graph_lacks_are_both_reported():
    page = {"value": [{"id": "sp-1", "appId": "a", "publisherName": "Contoso"}]}
    schema = schemacheck.route_schema(GRAPH, "GET", "/v1.0/servicePrincipals")
    problems = [str(p) for p in schemacheck.validate(GRAPH, schema, page)]
    assert problems == ["value[0].publisherName: is not a member the vendor documents"]
    log = schemacheck.ReadLog()
    row = log.wrap(GRAPH, schema, page)["value"][0]
    row.get("verifiedPublisher")
    row.get("publisherName")
    assert list(log.undocumented()) == ["value[0].publisherName"]
