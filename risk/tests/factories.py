"""Telemetry rows in the senders' own field names, for tests and the demo."""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any


def access_row(email: str, at: datetime, *, ip: str, allowed: bool = True, ray: str = "", **extra: Any) -> dict:
    row = {"CreatedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "Email": email, "Allowed": allowed, "Action": "login",
           "IPAddress": ip, "AppDomain": "wiki.acme.example", "Connection": "okta"}
    if ray:
        row["RayID"] = ray
    return row | extra


def http_row(email: str, at: datetime, *, host: str, request_id: str = "", **extra: Any) -> dict:
    row = {"Datetime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "Email": email, "HTTPHost": host, "HTTPMethod": "GET",
           "HTTPStatusCode": 200, "Action": "allow", "URL": f"https://{host}/"}
    if request_id:
        row["RequestID"] = request_id
    return row | extra


def dns_row(email: str, at: datetime, *, name: str, categories: list[str], **extra: Any) -> dict:
    return {"Datetime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "Email": email, "QueryName": name,
            "QueryCategoryNames": categories, "ResolverDecision": "blockedByCategory"} | extra


def crowdstrike_row(aid: str, at: datetime, *, overall: int, os: int = 90, sensor: int = 90, **extra: Any) -> dict:
    return {"aid": aid, "cid": "c0ffee", "modified_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "assessment": {"overall": overall, "os": os, "sensor_config": sensor, "version": "3.6.0"},
            "event_platform": "Windows"} | extra


def sentinelone_row(agent: str, at: datetime, *, threat_id: str, confidence: str = "malicious", **extra: Any) -> dict:
    return {"id": threat_id,
            "threatInfo": {"threatId": threat_id, "threatName": "Mimikatz.exe", "classification": "Malware",
                           "confidenceLevel": confidence, "mitigationStatus": "not_mitigated",
                           "createdAt": at.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                           "updatedAt": at.strftime("%Y-%m-%dT%H:%M:%S.000000Z")},
            "agentRealtimeInfo": {"agentUuid": agent, "agentComputerName": "LAPTOP-7", "agentOsName": "Windows 11",
                                  "agentOsRevision": "22631"},
            "agentDetectionInfo": {}} | extra


def ndjson(rows: list[dict]) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in rows) + b"\n"


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of spaces that inflates to ``inflated`` bytes, built a mebibyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b" " * 1024 * 1024) for _ in range(inflated // (1024 * 1024))]
    return b"".join(parts) + packer.flush()
