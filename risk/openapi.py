"""The telemetry ingest and risk score endpoints in the console's OpenAPI document."""

from __future__ import annotations

_ERROR = {"type": "object", "required": ["error", "field"],
          "properties": {"error": {"type": "string"}, "field": {"type": "string"}}}
_LEVEL = {"type": "string", "enum": ["unscored", "low", "medium", "high"]}
_KINDS = ["access_requests", "gateway_http", "gateway_dns", "crowdstrike_zta", "sentinelone_threats"]


def _errors(*codes: str) -> dict:
    text = {"400": "Bad input (the field at fault is named)", "401": "Missing, wrong or revoked token",
            "403": "The token belongs to a source of another kind", "404": "Not found",
            "413": "The batch is too large (as sent, or once gzip is undone)",
            "429": "Too many bad tokens from this address",
            "503": "The database, cache or task queue is unreachable; nothing was stored. Retry after the "
                   "Retry-After header's seconds"}
    return {code: {"description": text[code], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/RiskError"}}}} for code in codes}


def _ok(schema: str, text: str, code: str = "200") -> dict:
    return {code: {"description": text, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


RISK_PATHS = {
    "/api/v1/telemetry/{kind}": {
        "post": {
            "operationId": "telemetryIngest",
            "summary": "Send a batch of telemetry (NDJSON or a JSON array, gzip welcome)",
            "description": "Rows use the sender's own field names (docs/risk.md lists them per kind). Bad rows "
            "are reported with their line and never block the good ones; rows sent again are stored once. "
            "Batches up to RISK_INGEST_SYNC_MAX_BYTES are stored before the answer (200); larger ones are "
            "answered 202 and stored by a worker: poll status_url.",
            "security": [{"telemetrySource": []}],
            "parameters": [{"name": "kind", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": _KINDS}}],
            "requestBody": {"required": True, "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {"schema": {
                    "description": "A JSON array of rows, or NDJSON (many log shippers label NDJSON "
                    "application/json, so the body decides, not the label). A row that is not a JSON object "
                    "is not refused with the batch: it is reported in the answer's rejected list, like any "
                    "other bad row."}},
            }},
            "responses": _ok("TelemetryBatch", "Stored") | _ok("TelemetryBatch", "Queued for a worker", "202")
            | _errors("400", "401", "403", "404", "413", "429", "503"),
        },
    },
    "/api/v1/telemetry/batches/{batch_id}": {
        "get": {
            "operationId": "telemetryBatch",
            "summary": "A batch's status and rejected rows (with the token that sent it)",
            "security": [{"telemetrySource": []}],
            "parameters": [{"name": "batch_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": _ok("TelemetryBatch", "The batch") | _errors("401", "404"),
        },
    },
    "/api/v1/risk/behaviours": {
        "get": {"operationId": "riskBehaviours", "summary": "Every risk behaviour with its state, level and parameters",
                "security": [{"apiToken": []}], "responses": _ok("RiskBehaviours", "Behaviours") | _errors("401")},
    },
    "/api/v1/risk/users": {
        "get": {
            "operationId": "riskUsers", "summary": "Scored people, highest first (100 a page)",
            "security": [{"apiToken": []}],
            "parameters": [{"name": "level", "in": "query", "schema": _LEVEL},
                           {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
            "responses": _ok("RiskUsers", "People") | _errors("400", "401"),
        },
    },
    "/api/v1/risk/users/{user_id}": {
        "get": {
            "operationId": "riskUser", "summary": "A person's level, the events since their last reset, and history",
            "security": [{"apiToken": []}],
            "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": _ok("RiskUser", "The person") | _errors("401", "404"),
        },
    },
    "/api/v1/risk/users/{user_id}/reset": {
        "post": {
            "operationId": "riskReset", "summary": "Reset a person's risk (risk:write); the reason is kept",
            "security": [{"apiToken": []}],
            "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["reason"],
                "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}}}}},
            "responses": {"200": {"description": "Reset", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"user_id": {"type": "integer"}, "risk_level": _LEVEL,
                                                 "reset": {"type": "boolean"}}}}}}} | _errors("400", "401", "404"),
        },
    },
}

_PERSON = {
    "user_id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"}, "risk_level": _LEVEL,
    "level_since": {"type": ["string", "null"], "format": "date-time"},
    "last_reset_time": {"type": ["string", "null"], "format": "date-time"},
    "confirmed_compromised": {"type": "boolean"},
}

RISK_SCHEMAS = {
    "RiskError": _ERROR,
    "TelemetryBatch": {
        "type": "object",
        "required": ["batch", "kind", "status", "received", "stored", "duplicates", "rejected_count", "rejected"],
        "properties": {
            "batch": {"type": "string", "format": "uuid"}, "kind": {"type": "string", "enum": _KINDS},
            "status": {"type": "string", "enum": ["queued", "processing", "done", "failed"]},
            "received": {"type": "integer"}, "stored": {"type": "integer"}, "duplicates": {"type": "integer"},
            "rejected_count": {"type": "integer"},
            "rejected": {"type": "array", "items": {"type": "object", "properties": {
                "line": {"type": "integer"}, "field": {"type": "string"}, "reason": {"type": "string"}}}},
            "message": {"type": "string"}, "status_url": {"type": "string", "format": "uri"},
        },
    },
    "RiskBehaviours": {"type": "object", "properties": {"behaviours": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                                         "enabled": {"type": "boolean"}, "risk_level": _LEVEL,
                                         "parameters": {"type": "object"}}}}}},
    "RiskUsers": {"type": "object", "properties": {
        "users": {"type": "array", "items": {"type": "object", "properties": _PERSON}},
        "page": {"type": "integer"}, "next": {"type": ["string", "null"]}}},
    "RiskUser": {"type": "object", "properties": _PERSON | {
        "events": {"type": "array", "items": {"type": "object"}},
        "history": {"type": "array", "items": {"type": "object"}}}},
}

TELEMETRY_SCHEME = {"type": "http", "scheme": "bearer", "description": "A telemetry source's token "
                    "(Risk → Telemetry sources), e.g. zts_<prefix>_<secret>; each source sends one kind."}
