"""The OpenAPI 3.1 document of the console's API (served at /api/v1/openapi.json): the Access
decision API here, other features' endpoints added with ``extend`` from their AppConfig."""

_DECISION = {
    "type": "object",
    "required": ["decision", "reason", "policy", "challenge", "token", "expires_at", "session_id"],
    "properties": {
        "decision": {"type": "string", "enum": ["allow", "deny", "challenge", "bypass"]},
        "reason": {"type": "string"},
        "policy": {
            "oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["id", "name"],
                 "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
            ],
        },
        "challenge": {
            "type": "array",
            "description": "What the user must prove before the policy allows: MFA with one of "
            "the methods, or a fresh identity verification, within max_age_seconds.",
            "items": {
                "type": "object", "required": ["type"],
                "properties": {
                    "type": {"type": "string", "enum": ["mfa", "identity_verification"]},
                    "methods": {"type": "array", "items": {"type": "string"}},
                    "max_age_seconds": {"type": "integer"},
                },
            },
        },
        "token": {"type": ["string", "null"], "description": "On allow: an ES256 JWT whose aud is the "
                  "application's aud tag and whose exp is the session's; verify with the JWKS."},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "session_id": {"type": ["string", "null"]},
        "user": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"email": {"type": "string"}}}]},
        "error": {"type": "string"},
        "field": {"type": "string"},
        "request_id": {"type": "string"},
    },
}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {
        "title": "Zero Trust Console API",
        "version": "1.0.0",
        "description": "Access decisions for proxies in front of applications, and Gateway HTTP "
        "policy decisions for secure web gateways. Both fail closed: every answer other than a "
        "complete evaluation is a deny (Access: decision=deny) or a block (Gateway: action=block): "
        "bad input (400), bad credentials (401), unknown application (404) and internal errors.",
    },
    "components": {
        "securitySchemes": {
            "apiToken": {"type": "http", "scheme": "bearer", "description": "An API token (Settings → API "
                         "tokens), e.g. ztc_<prefix>_<secret>, with the scope the endpoint names: "
                         "access:decide, gateway:evaluate, risk:read or risk:write."},
        },
        "schemas": {
            "DecisionRequest": {
                "type": "object",
                "additionalProperties": False,
                "required": ["application"],
                "anyOf": [{"required": ["user"]}, {"required": ["token"]}, {"required": ["service_token"]}],
                "properties": {
                    "application": {
                        "description": "The application's aud tag, or the hostname and path requested.",
                        "oneOf": [
                            {"type": "string", "minLength": 1, "maxLength": 64},
                            {"type": "object", "additionalProperties": False, "required": ["hostname"],
                             "properties": {"hostname": {"type": "string", "maxLength": 253},
                                            "path": {"type": "string", "maxLength": 2000}}},
                        ],
                    },
                    "user": {
                        "type": "object",
                        "description": "The person, as the proxy authenticated them.",
                        "additionalProperties": False,
                        "required": ["email"],
                        "properties": {
                            "email": {"type": "string", "maxLength": 254},
                            "identity_provider": {"type": "string", "maxLength": 60},
                            "amr": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 40}},
                            "claims": {"type": "object"},
                        },
                    },
                    "token": {"type": "string", "maxLength": 4096,
                              "description": "An application token issued earlier; its session is checked."},
                    "service_token": {
                        "type": "object", "additionalProperties": False,
                        "required": ["client_id", "client_secret"],
                        "properties": {"client_id": {"type": "string", "maxLength": 120},
                                       "client_secret": {"type": "string", "maxLength": 200}},
                    },
                    "ip": {"type": "string", "maxLength": 45, "description": "The client's address."},
                    "country": {"type": "string", "pattern": "^[A-Za-z]{2}$",
                                "description": "Two-letter code; looked up offline from ip when absent."},
                    "device_id": {"type": "string", "maxLength": 120},
                },
            },
            "Decision": _DECISION,
            "JWKS": {"type": "object", "required": ["keys"],
                     "properties": {"keys": {"type": "array", "items": {"type": "object"}}}},
        },
    },
    "paths": {
        "/api/v1/access/decide": {
            "post": {
                "operationId": "decide",
                "summary": "Decide whether a request may reach an application",
                "security": [{"apiToken": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/DecisionRequest"}}}},
                "responses": {
                    code: {"description": text, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Decision"}}}}
                    for code, text in (
                        ("200", "The decision (internal errors also answer 200 with decision=deny)"),
                        ("400", "Malformed request: deny"),
                        ("401", "Missing or invalid API token: deny"),
                        ("404", "No application matches: deny"),
                    )
                },
            },
        },
        "/api/v1/access/jwks.json": {
            "get": {
                "operationId": "jwks",
                "summary": "Public keys that verify application tokens",
                "responses": {"200": {"description": "JSON Web Key Set", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/JWKS"}}}}},
            },
        },
    },
}


def extend(*, paths: dict, schemas: dict) -> None:
    """Add another feature's endpoints and schemas to the document (from ``AppConfig.ready``)."""
    for existing, added in ((OPENAPI["paths"], paths), (OPENAPI["components"]["schemas"], schemas)):
        taken = [name for name, value in added.items() if existing.get(name, value) is not value]
        if taken:
            raise ValueError(f"OpenAPI names already used: {taken}")
    OPENAPI["paths"].update(paths)
    OPENAPI["components"]["schemas"].update(schemas)
