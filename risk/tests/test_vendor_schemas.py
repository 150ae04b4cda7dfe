"""Telemetry against the senders' own published field lists (``risk/ingest/vendor_schemas/``):
a row carrying every field Cloudflare documents for a Logpush dataset is accepted and stored;
every field a parser reads is one the vendor documents (or a console extension the docs name);
the rows the tests and the demo send are shaped like the vendor's. Also the parsing rules that
checking against the vendors brought out: the DNS root query, SentinelOne's logged-in user and
CrowdStrike assessments that carry no OS version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from risk.ingest import parsing, storage
from risk.tests.factories import access_row, crowdstrike_row, dns_row, http_row, ndjson, sentinelone_row
from shadow_ai.casb import schemacheck

SCHEMAS = Path(parsing.__file__).resolve().parent / "vendor_schemas"
CLOUDFLARE = schemacheck.load(SCHEMAS / "cloudflare_logpush.json")
CROWDSTRIKE = schemacheck.load(SCHEMAS / "crowdstrike_zta.json")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EMAIL = "ana@corp.example"
LOGPUSH = ("access_requests", "gateway_http", "gateway_dns")


def _value(dataset: str, name: str, schema: dict):
    """A plausible value of a documented field, of the documented type."""
    if name in ("Email",):
        return EMAIL
    if name in ("CreatedAt", "Datetime"):
        return T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name.endswith(("IP", "IPAddress")) and schema.get("type") == "string":
        return "85.214.132.117"
    if name.endswith(("CountryCode", "Country")) and schema.get("type") == "string":
        return "DE"
    special = {("access_requests", "Action"): "login", ("gateway_http", "Action"): "allow",
               ("gateway_http", "URL"): "https://chatgpt.com/c/1", ("gateway_http", "HTTPHost"): "chatgpt.com",
               ("gateway_http", "HTTPMethod"): "POST", ("gateway_http", "HTTPStatusCode"): 200,
               ("gateway_http", "FileInfo"): {"files": [{"name": "q3.xlsx", "size": 2048, "direction": "upload"}]},
               ("gateway_dns", "QueryName"): "chatgpt.com."}
    if (dataset, name) in special:
        return special[(dataset, name)]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    items = schema.get("items", {}).get("type")
    return {"string": f"{name[:20].lower()}-1", "integer": 7, "boolean": False, "object": {},
            "array": [7] if items == "integer" else [{}] if items == "object" else [f"{name[:12].lower()}-1"]}[kind]


def every_field_row(dataset: str) -> dict:
    properties = schemacheck.properties(CLOUDFLARE, dataset)
    return {name: _value(dataset, name, schema) for name, schema in properties.items()}


@pytest.mark.parametrize("dataset", LOGPUSH)
def test_a_row_with_every_documented_field_is_shaped_like_the_documentation(dataset):
    row = every_field_row(dataset)
    assert schemacheck.validate(CLOUDFLARE, dataset, row) == []
    assert len(row) == len(schemacheck.properties(CLOUDFLARE, dataset))
    good, bad, total = parsing.parse(dataset, ndjson([row]), lambda email, device: None)
    assert (len(good), bad, total) == (1, [], 1)


@pytest.mark.django_db(transaction=True)
def test_rows_with_every_documented_field_are_stored_through_the_api(client, source, make_user):
    person = make_user(email=EMAIL)
    for dataset in LOGPUSH:
        _, token = source(dataset)
        answer = client.post(f"/api/v1/telemetry/{dataset}", ndjson([every_field_row(dataset)]),
                             content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert (body["stored"], body["rejected_count"]) == (1, 0), (dataset, body)
    from risk.models import AuthEvent, GatewayDnsEvent, GatewayHttpEvent

    assert AuthEvent.objects.get().user_id == person.pk
    http = GatewayHttpEvent.objects.get()
    assert (http.host, http.bytes_sent, http.user_id) == ("chatgpt.com", 2048, person.pk)
    assert GatewayDnsEvent.objects.get().query_name == "chatgpt.com"


# The Access parser takes both forms of an Access log row: Logpush's and the REST log's.
ALSO = {"access_requests": "access_requests_rest", "access_requests_rest": "access_requests"}


def _reads(document: dict, schema: str, row: dict, parser) -> list[str]:
    """Fields the parser read that neither the row's schema nor its alternative form documents."""
    log = schemacheck.ReadLog()
    try:
        parser(log.wrap(document, schema, row), lambda email, device: None)
    except parsing.RowError:
        pass
    other = set(schemacheck.properties(document, ALSO[schema])) if schema in ALSO else set()
    return sorted(set(log.undocumented()) - other)


@pytest.mark.parametrize("dataset", LOGPUSH)
def test_every_field_the_parser_reads_is_a_documented_logpush_field(dataset):
    parser = parsing.PARSERS[dataset]
    full, minimal = every_field_row(dataset), {k: v for k, v in every_field_row(dataset).items()
                                               if k in ("Email", "CreatedAt", "Datetime", "Allowed", "QueryName",
                                                        "HTTPHost")}
    # A full row reads the first name of each field; a minimal one reaches every fallback. The
    # only names read beyond the documentation are the console extensions the file names.
    extensions = set(CLOUDFLARE["x-console-extensions"].get(dataset, {}))
    assert set(_reads(CLOUDFLARE, dataset, full, parser)) <= extensions
    assert set(_reads(CLOUDFLARE, dataset, minimal, parser)) <= extensions
    assert extensions <= {"UploadBytes", "DownloadBytes"}


def test_gateway_byte_counters_are_read_when_the_proxy_sends_them_and_file_sizes_otherwise():
    counted = {"Datetime": "2026-11-20T09:00:00Z", "HTTPHost": "chatgpt.com", "Email": EMAIL,
               "UploadBytes": 5000, "DownloadBytes": 700,
               "FileInfo": {"files": [{"name": "q3.xlsx", "size": 2048, "direction": "upload"}]}}
    parsed = parsing.parse_gateway_http(counted, lambda email, device: None)
    assert (parsed["bytes_sent"], parsed["bytes_received"]) == (5000, 700)
    del counted["UploadBytes"], counted["DownloadBytes"]
    parsed = parsing.parse_gateway_http(counted, lambda email, device: None)
    assert (parsed["bytes_sent"], parsed["bytes_received"]) == (2048, 0)


def test_access_rows_from_the_rest_log_are_read_by_their_documented_names():
    rest = {"action": "login", "allowed": True, "app_domain": "wiki.corp.example", "app_uid": "a1",
            "connection": "okta", "created_at": "2026-11-20T09:00:00Z", "ip_address": "85.214.132.117",
            "ray_id": "7f1c0a2b", "user_email": EMAIL}
    assert schemacheck.validate(CLOUDFLARE, "access_requests_rest", rest) == []
    assert _reads(CLOUDFLARE, "access_requests_rest", rest, parsing.parse_access) == []
    parsed = parsing.parse_access(rest, lambda email, device: None)
    assert (parsed["email"], parsed["ray_id"], parsed["app_uid"]) == (EMAIL, "7f1c0a2b", "a1")


def test_the_rows_the_tests_send_are_shaped_like_the_documentation():
    for dataset, row in (("access_requests", access_row(EMAIL, T0, ip="85.214.132.117", ray="r1")),
                         ("gateway_http", http_row(EMAIL, T0, host="chatgpt.com", request_id="q1")),
                         ("gateway_dns", dns_row(EMAIL, T0, name="chatgpt.com", categories=["AI"]))):
        assert schemacheck.validate(CLOUDFLARE, dataset, row) == [], dataset
    assert schemacheck.validate(CROWDSTRIKE, "crowdstrike_zta", crowdstrike_row("aid-1", T0, overall=40)) == []


def test_every_field_the_crowdstrike_parser_reads_is_in_the_assessment_or_a_named_extension():
    extensions = set(CROWDSTRIKE["x-console-extensions"])
    full = {"aid": "aid-1", "cid": "c0ffee", "event_platform": "Mac", "modified_time": "2026-11-20T09:00:00Z",
            "product_type_desc": "Workstation", "sensor_file_status": "not deployed",
            "system_serial_number": "C02XK0AAJGH5",
            "assessment": {"overall": 40, "os": 50, "sensor_config": 30, "version": "3.6.0"},
            "assessment_items": {"os_signals": [{"criteria": "SIP enabled", "group_name": "mac",
                                                 "meets_criteria": "yes", "signal_id": "s1",
                                                 "signal_name": "System Integrity Protection"}],
                                 "sensor_signals": []}}
    assert schemacheck.validate(CROWDSTRIKE, "crowdstrike_zta", full) == []
    assert set(_reads(CROWDSTRIKE, "crowdstrike_zta", full, parsing.parse_crowdstrike)) <= extensions
    parsed = parsing.parse_crowdstrike(full, lambda email, device: None)
    assert (parsed["os_name"], parsed["os_version"], parsed["device_name"]) == ("macOS", "", "C02XK0AAJGH5")


def test_the_dns_root_query_keeps_the_root():
    for name in (".", "..", "Example.COM."):
        row = dns_row(EMAIL, T0, name=name, categories=[])
        [parsed], bad, _ = parsing.parse("gateway_dns", ndjson([row]), lambda email, device: None)
        assert bad == [] and parsed["query_name"] == {"Example.COM.": "example.com"}.get(name, ".")
    _, [bad], _ = parsing.parse("gateway_dns", ndjson([dns_row(EMAIL, T0, name="", categories=[])]),
                                lambda email, device: None)
    assert (bad.field, bad.reason) == ("QueryName", "is required")


@pytest.mark.parametrize(("upn", "user_name", "agent_domain", "expected"), [
    ("ana@acme.example", "ACME\\someone", "ACME", "ana@acme.example"),      # the UPN first
    ("", "Ana@Acme.Example", "", "ana@acme.example"),                       # a user name that is an address
    ("", "ACME\\Ana", "", "ana@acme.example"),                              # DOMAIN\user, domain mapped
    ("", "ana", "acme", "ana@acme.example"),                                # bare user + agentDomain, mapped
    ("", "acme.local\\raj", "", "raj@acme.example"),                        # a DNS-style domain, mapped
    ("", "OTHER\\ana", "", ""),                                             # an unmapped domain: nobody
    ("", "LAPTOP-7\\ana", "", ""),                                          # a local account: nobody
    ("", "NT AUTHORITY\\SYSTEM", "", ""),                                   # system accounts: nobody
    ("", "ACME\\Administrator", "", ""),
    ("", "ana", "WORKGROUP", ""),
    ("", "", "ACME", ""),
])
def test_sentinelone_names_the_person_by_the_documented_domain_rules(upn, user_name, agent_domain, expected):
    domains = {"ACME": "acme.example", "acme.local": "acme.example"}
    assert parsing.sentinelone_person(upn, user_name, agent_domain, domains) == expected


def test_a_sentinelone_threat_without_a_upn_resolves_the_logged_in_user(settings):
    settings.RISK_SENTINELONE_DOMAINS = {"ACME": "acme.example"}
    seen = []
    row = sentinelone_row("agent-1", T0, threat_id="t1",
                          agentDetectionInfo={"agentLastLoggedInUserName": "ACME\\ana", "agentDomain": "ACME"})
    parsed = parsing.parse_sentinelone(row, lambda email, device: seen.append((email, device)) or 5)
    assert parsed["email"] == "ana@acme.example" and seen == [("ana@acme.example", "agent-1")]
    settings.RISK_SENTINELONE_DOMAINS = {}
    assert parsing.parse_sentinelone(row, lambda email, device: None)["email"] == ""


@pytest.mark.django_db
def test_a_crowdstrike_device_is_judged_by_its_registered_os_version_and_the_explanation_says_so(make_user):
    from console.access.models import Device
    from risk.behaviours.base import REGISTRY

    person = make_user(email=EMAIL)
    Device.objects.create(user=person, device_id="aid-old", name="Ana's Mac", os="macOS", os_version="13.6.1")
    Device.objects.create(user=person, device_id="aid-unknown", name="Spare", os="macOS", os_version="")
    rows = [parsing.parse_crowdstrike(crowdstrike_row(aid, T0, overall=90, event_platform="Mac"),
                                      storage.Resolver()) for aid in ("aid-old", "aid-unknown", "aid-unregistered")]
    storage.add_posture(rows)
    assert [(r["os_name"], r["os_version"]) for r in rows] == [("macOS", "13.6.1"), ("macOS", ""), ("macOS", "")]
    update = REGISTRY["device_needs_update"]
    events = [dict(r, id=n, new=True) for n, r in enumerate(rows, start=1)]
    [trigger] = update.evaluate(events, update.default_params())
    assert trigger.details["version_from"] == "device posture" and "from the device posture" in trigger.summary
    assert "CrowdStrike" in update.description and "do not" in update.description


def test_the_schema_documents_name_their_source_and_licence():
    for document in (CLOUDFLARE, CROWDSTRIKE):
        assert document["source"] and document["licence"]
    readme = (SCHEMAS / "README.md").read_text()
    assert "cloudflare_logpush.json" in readme and "crowdstrike_zta.json" in readme
    json.dumps(CLOUDFLARE)  # plain data
