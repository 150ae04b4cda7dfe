"""The Gateway policy editor's condition rows turned into the configurations the engine compiles
(``shadow_ai.gateway.engine.CONDITIONS``): which conditions exist, what each needs, and the checks
a row must pass (applications in the library, groups that exist, values the engine accepts).
Forms only call it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.models import Group
from console.core import policy
from console.core.errors import ValidationFailed
from shadow_ai.gateway import engine, operations
from shadow_ai.models import Application, Category


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


CONDITION_LABELS = {
    "application": "Application",
    "category": "Application category",
    "status": "Approval status",
    "gen_ai": "Generative AI",
    "saas_score": "SaaS confidence score",
    "genai_score": "Gen-AI confidence score",
    "hostname": "Host",
    "user_email": "User e-mail",
    "group": "User group",
    "device_posture": "Device posture",
    "risk_score": "User risk score",
    "dlp_profile": "DLP profile",
    "prompt_topic": "Prompt topic",
    # The request's own selectors (shadow_ai/gateway/request_conditions.py).
    "http_method": "HTTP method",
    "url_path": "URL path",
    "url_regex": "URL (regular expression)",
    "upload_file_type": "Uploaded file type",
    "operation": "Application operation",
}
VALUE_HELP = {
    "application": "Application names, one per line (as in the library).",
    "hostname": "Hostnames, one per line; subdomains are included.",
    "user_email": "E-mail addresses, or @domain for everyone at a domain, one per line.",
    "group": "Group names, one per line.",
    "http_method": "Methods, one per line: GET, POST, PUT, PATCH, DELETE…",
    "url_path": "Paths, one per line (/api/upload covers everything below it).",
    "url_regex": "RE2 regular expressions on the whole URL, one per line.",
    "upload_file_type": "File extensions, one per line: pdf, docx, zip, exe…",
    "operation": "One per line: SendPrompt, UploadFile, Share, LogIn (with an Application condition).",
}
USES_TEXT = frozenset(VALUE_HELP)
REQUEST_TEXT = frozenset({"http_method", "url_path", "url_regex", "upload_file_type", "operation"})
USES_OPERATOR = frozenset({"application", "category", "status", "hostname", "user_email", "group", "risk_score",
                           "dlp_profile", "prompt_topic"}) | REQUEST_TEXT


# The conditions whose values are picked from a list, by the editor field that holds them.
_PICKED = {"category": "categories", "status": "statuses", "risk_score": "risk_levels",
           "prompt_topic": "prompt_topics"}


def _application_keys(values: list[str]) -> list[str]:
    by_name = {n.lower(): k for n, k in Application.objects.values_list("name", "key")}
    by_key = set(by_name.values())
    missing = [v for v in values if v.lower() not in by_name and v not in by_key]
    if missing:
        raise ValidationFailed(f"Not in the library: {', '.join(missing)}.")
    return [by_name.get(v.lower(), v) for v in values]


def _group_ids(values: list[str]) -> list[int]:
    groups = {g.name.lower(): g.pk for g in Group.objects.all()}
    missing = [v for v in values if v.lower() not in groups]
    if missing:
        raise ValidationFailed(f"Unknown group(s): {', '.join(missing)}.")
    return [groups[v.lower()] for v in values]


def _request_values(kind: str, values: list[str]) -> list[str]:
    """Methods upper-cased, file types without their dot and lower-cased, operations by their
    name in any case; paths and regular expressions as typed (a regex may contain commas, so its
    values are lines only)."""
    if kind == "http_method":
        return [v.upper() for v in values]
    if kind == "upload_file_type":
        return [v.lstrip(".").lower() for v in values]
    if kind == "operation":
        names = {o.lower(): o for o in operations.OPERATIONS}
        return [names.get(v.lower(), v) for v in values]
    return values


def _score(data: Mapping[str, Any], label: str, config: dict[str, Any]) -> None:
    if data.get("threshold") is None:
        raise ValidationFailed(f"{label}: enter a threshold from 0 to 5.")
    config["comparison"] = data.get("comparison") or "lt"
    config["value"] = float(data["threshold"])
    if data.get("match_unscored"):
        config["match_unscored"] = True


def _device_posture(data: Mapping[str, Any], config: dict[str, Any]) -> None:
    config["result"] = data.get("posture") or "passes"
    config.update(policy.posture_config(data))


def _fill(kind: str, data: Mapping[str, Any], values: list[str], label: str, config: dict[str, Any]) -> None:
    """The type-specific part of a condition's configuration."""
    if kind == "application":
        config["values"] = _application_keys(values)
    elif kind == "group":
        config["values"] = _group_ids(values)
    elif kind in ("hostname", "user_email"):
        config["values"] = [v.lower() for v in values]
    elif kind in REQUEST_TEXT:
        config["values"] = _request_values(kind, values)
    elif kind in _PICKED:
        config["values"] = list(data.get(_PICKED[kind]) or [])
        if kind == "prompt_topic":
            config["confidence"] = data.get("topic_confidence") or "low"
    elif kind == "dlp_profile":
        config["values"] = sorted(p.pk for p in data.get("dlp_profiles") or [])
    elif kind == "gen_ai":
        config["value"] = (data.get("gen_ai") or "true") == "true"
    elif kind in ("saas_score", "genai_score"):
        _score(data, label, config)
    elif kind == "device_posture":
        _device_posture(data, config)


def condition_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration of one editor row (``type``, ``operator``, ``values`` and the fields its
    type needs); ``ValidationFailed`` saying what is wrong with it."""
    kind = data["type"]
    label = CONDITION_LABELS[kind]
    config: dict[str, Any] = {"type": kind}
    if kind in USES_OPERATOR:
        config["operator"] = data.get("operator") or "in"
    raw = data.get("values", "")
    values = [v.strip() for v in (raw or "").splitlines() if v.strip()] if kind == "url_regex" else _lines(raw)
    if kind in USES_TEXT and not values:
        raise ValidationFailed(f"{label}: enter at least one value.")
    _fill(kind, data, values, label, config)
    if kind in ("category", "status", "risk_score", "dlp_profile", "prompt_topic") and not config["values"]:
        raise ValidationFailed(f"{label}: pick at least one.")
    try:
        engine.compile_condition(config, categories=dict(Category.choices))
    except engine.ConditionError as exc:
        raise ValidationFailed(f"{label}: {exc}") from None
    return config
