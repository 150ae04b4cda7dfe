"""Reading telemetry batches: the body (NDJSON or a JSON array, gzip or not), then each row in
the field names of its source, into the columns we keep.

A bad row never stops the good ones: it becomes a ``Rejected`` entry with its line (or array
position), the field at fault and the reason. Parsers are pure; they only need a way to turn an
e-mail or a device id into a user id, which the caller passes in."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings


class BodyError(ValueError):
    """The batch as a whole cannot be read (bad gzip, not JSON at all, too large)."""


class RowError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The report stored with the batch (PostgreSQL jsonb) and sent back: a field path is made
        of the sender's own keys, which may hold NUL characters or lone surrogates that the
        database refuses, so those are shown as U+FFFD."""
        return {"line": self.line, "field": _printable(self.field), "reason": _printable(self.reason)}


def _printable(text: str) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")


# --- The body ---------------------------------------------------------------------------------


GZIP_MAGIC = b"\x1f\x8b"
INFLATE_CHUNK = 1024 * 1024


class BodyTooLarge(BodyError):
    """The batch is (or inflates to) more than the limit (answered 413)."""


def decompress(raw: bytes, *, encoding: str = "", limit: int) -> bytes:
    """Undo gzip (by header or by its magic bytes), every member of it, refusing to inflate
    beyond ``limit``: the stream is inflated a megabyte at a time, so a gzip bomb costs at most
    ``limit`` bytes of memory before it is refused. Bytes after the last member that are not
    another member are refused (they would otherwise be silently ignored)."""
    if encoding.lower().strip() not in ("", "identity", "gzip", "x-gzip"):
        raise BodyError(f"Content-Encoding {encoding!r} is not supported; send gzip or plain bytes.")
    if not (encoding.lower().strip() in ("gzip", "x-gzip") or raw[:2] == GZIP_MAGIC):
        if len(raw) > limit:
            raise BodyTooLarge(f"The batch is larger than {limit} bytes; split it.")
        return raw
    parts: list[bytes] = []
    size = 0
    pending = raw
    members = 0
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        members += 1
        try:
            chunk = inflater.decompress(pending, INFLATE_CHUNK)
            while True:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"The batch inflates to more than {limit} bytes; split it.")
                if chunk:
                    parts.append(chunk)
                if inflater.eof or not (chunk or inflater.unconsumed_tail):
                    break
                chunk = inflater.decompress(inflater.unconsumed_tail, INFLATE_CHUNK)
        except zlib.error as exc:
            raise BodyError(f"The body is not valid gzip ({exc}; gzip member {members}).") from None
        if not inflater.eof:
            raise BodyError("The gzip body is truncated.")
        pending = inflater.unused_data
        if not pending:
            return b"".join(parts)
        if pending[:2] != GZIP_MAGIC:
            raise BodyError(f"The body has {len(pending)} bytes of trailing data after the gzip stream "
                            f"(after member {members}); send only gzip members.")


PARSE_CHUNK = 5000  # rows decoded, validated and stored at a time


def row_chunks(body: bytes, size: int = PARSE_CHUNK) -> Iterator[list[tuple[int, Any]]]:
    """(line or array position, decoded object or the JSON error) for each row, ``size`` rows at
    a time, so a large batch never holds all its decoded rows at once. A JSON array is decoded
    whole (orjson has no streaming mode); anything else is NDJSON, one object per non-empty line."""
    text = body.lstrip()
    if not text:
        return
    if text[:1] == b"[":
        try:
            items = orjson.loads(body)
        except ValueError as exc:
            raise BodyError(f"The body starts like a JSON array but is not valid JSON ({exc}).") from None
        if not isinstance(items, list):
            raise BodyError("Send a JSON array of objects or one JSON object per line (NDJSON).")
        for start in range(0, len(items), size):
            yield list(enumerate(items[start:start + size], start=start + 1))
        return
    numbered: list[tuple[int, bytes]] = []
    for number, line in enumerate(io.BytesIO(body), start=1):
        if line.strip():
            numbered.append((number, line))
            if len(numbered) == size:
                decoded = _decode_lines(numbered)
                numbered = []
                yield decoded
                decoded = None  # type: ignore[assignment]
    if numbered:
        yield _decode_lines(numbered)


def _decode_lines(numbered: list[tuple[int, bytes]]) -> list[tuple[int, Any]]:
    try:
        # Decoding the lines as one array is several times faster than line by line; any bad
        # line (or a line holding two values) sends us the slow way, which finds it.
        items = orjson.loads(b"[" + b",".join(line for _, line in numbered) + b"]")
    except ValueError:
        items = None
    if items is not None and len(items) == len(numbered):
        return list(zip((number for number, _ in numbered), items, strict=True))
    decoded: list[tuple[int, Any]] = []
    for number, line in numbered:
        try:
            decoded.append((number, orjson.loads(line)))
        except ValueError as exc:
            decoded.append((number, RowError("", f"not valid JSON ({exc.args[0].split(':')[0]})")))
    return decoded


def rows(body: bytes) -> Iterator[tuple[int, Any]]:
    """Every row of ``row_chunks``, one by one."""
    for chunk in row_chunks(body):
        yield from chunk


NUL_ESCAPE = b"\\u0000"  # how JSON spells a NUL character (a raw one is not valid JSON)


def nul_path(value: Any, path: str = "") -> str | None:
    """Where in a decoded row a NUL character is (``"threatInfo.threatName"``, ``"Email"``,
    ``"CategoryNames[2]"``), or ``None``. PostgreSQL cannot store one in text or JSON."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = nul_path(item, f"{path}[{n}]")
            if found is not None:
                return found
    return None


# --- Field helpers ----------------------------------------------------------------------------


def _get(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = row.get(name)
        if value is not None and value != "":
            return value
    return None


def timestamp(row: Mapping[str, Any], *names: str, required: bool = True) -> datetime | None:
    value = _get(row, *names)
    if value is None:
        if required:
            raise RowError(names[0], "is required")
        return None
    if isinstance(value, bool):
        raise RowError(names[0], "must be a timestamp")
    if isinstance(value, int | float):
        # Logpush sends unix seconds, milliseconds or nanoseconds depending on the job's format.
        seconds = value / 1e9 if value > 1e17 else value / 1e3 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise RowError(names[0], f"{value!r} is not a valid timestamp") from None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())  # RFC 3339, "Z" included
        except ValueError:
            raise RowError(names[0], f"{value!r} is not an RFC 3339 timestamp or a unix time") from None
        if moment.tzinfo is None:
            raise RowError(names[0], f"{value!r} has no time zone (add Z or an offset)")
        return moment.astimezone(UTC)
    raise RowError(names[0], "must be a timestamp")


def text(row: Mapping[str, Any], *names: str, limit: int, required: bool = False) -> str:
    value = row.get(names[0])
    if type(value) is str and value:  # the common cases, without the general checks below
        return value.strip()[:limit]
    if value is None and len(names) == 1 and not required:
        return ""
    value = _get(row, *names)
    if value is None:
        if required:
            raise RowError(names[0], "is required")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RowError(names[0], "must be a string")
    return str(value).strip()[:limit]


def boolean(row: Mapping[str, Any], name: str, *, required: bool = False, default: bool = False) -> bool:
    value = row.get(name)
    if value is None:
        if required:
            raise RowError(name, "is required (true or false)")
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RowError(name, "must be true or false")


def integer(row: Mapping[str, Any], name: str, *, low: int = 0, high: int = 2**62) -> int | None:
    value = row.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RowError(name, "must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise RowError(name, f"{value!r} is not a whole number") from None
    if not low <= number <= high:
        raise RowError(name, f"must be between {low} and {high}")
    return number


def string_list(row: Mapping[str, Any], name: str, *, limit: int = 50) -> list:
    value = row.get(name)
    if not value:
        if value in (None, "", []):
            return []
        raise RowError(name, "must be an array")
    if not isinstance(value, list):
        raise RowError(name, "must be an array")
    if len(value) == 1 and type(value[0]) is str and len(value[0]) <= 200:
        return value  # the common case, already right
    out = []
    for item in value[:limit]:
        if isinstance(item, dict):  # DLP profile entries may come as objects with a name
            item = item.get("name") or item.get("id") or ""
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise RowError(name, "must be an array of strings or numbers")
        out.append(item if isinstance(item, int) else str(item)[:200])
    return out


def ip(row: Mapping[str, Any], *names: str) -> str | None:
    """A valid IPv4 or IPv6 address (checked by the C library; the database normalises it)."""
    value = _get(row, *names)
    if value is None:
        return None
    address = str(value).strip()
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except OSError:
            continue
        return address
    raise RowError(names[0], f"{value!r} is not an IP address")


def country(row: Mapping[str, Any], *names: str) -> str:
    value = _get(row, *names)
    if value is None:
        return ""
    code = str(value).strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise RowError(names[0], f"{value!r} is not a two-letter country code")
    return code


def email(row: Mapping[str, Any], *names: str, required: bool = False) -> str:
    value = _get(row, *names)
    if value is None:
        if required:
            raise RowError(names[0], "is required")
        return ""
    address = str(value).strip().lower()
    if "@" not in address or len(address) > 254:
        raise RowError(names[0], f"{value!r} is not an e-mail address")
    return address


def event_key(row: Mapping[str, Any], sender_id: str | None, kind: str) -> str:
    """The sender's own id when it gives one, else a hash of the whole row: either way the same
    row sent twice gets the same key."""
    if sender_id:
        key = f"{kind[:4]}:{sender_id}"
        if len(key) <= 64:
            return key
    try:
        canonical = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits, say
        canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(kind.encode() + b"\n" + canonical).hexdigest()


# --- The sources ------------------------------------------------------------------------------

Resolver = Callable[[str, str], int | None]  # (e-mail, device id) -> user id


def parse_access(row: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
    address = email(row, "Email", "user_email", required=True)
    action = text(row, "Action", "action", limit=16) or "login"
    if action not in ("login", "logout"):
        raise RowError("Action", f"{action!r} is not login or logout")
    return {
        "event_key": event_key(row, text(row, "RayID", "ray_id", limit=64), "access_requests"),
        "at": timestamp(row, "CreatedAt", "created_at"),
        "email": address,
        "user_id": resolve(address, ""),
        "origin": "external",
        "action": action,
        "allowed": boolean(row, "allowed" if "allowed" in row and "Allowed" not in row else "Allowed", required=True),
        "app_domain": text(row, "AppDomain", "app_domain", limit=255),
        "app_uid": text(row, "AppUUID", "app_uid", limit=64),
        "connection": text(row, "Connection", "connection", limit=64),
        "ip": ip(row, "IPAddress", "ip_address"),
        "country": country(row, "Country"),
        "ray_id": text(row, "RayID", "ray_id", limit=64),
    }


def _request_bytes(row: Mapping[str, Any]) -> tuple[int, int]:
    """Bytes up and down: the proxy's own counters (``UploadBytes`` / ``DownloadBytes``, a console
    extension that the console's gateway and counting proxies send), else the sizes of the files
    the proxy saw (``FileInfo.files[].size`` by direction), since Logpush has no byte counters for
    a request. ``FileInfo`` is an object whose members Cloudflare does not list, so anything
    unexpected in it is passed over."""
    if "UploadBytes" in row or "DownloadBytes" in row:
        return integer(row, "UploadBytes") or 0, integer(row, "DownloadBytes") or 0
    sent = received = 0
    info = row.get("FileInfo")
    if isinstance(info, dict) and isinstance(info.get("files"), list):
        for item in info["files"]:
            if not isinstance(item, dict):
                continue
            size = item.get("size")
            if isinstance(size, int) and not isinstance(size, bool) and size > 0:
                if str(item.get("direction", "")).lower().startswith("up"):
                    sent += size
                else:
                    received += size
    return sent, received


def parse_gateway_http(row: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
    address = email(row, "Email")
    device = text(row, "DeviceID", limit=120)
    host = text(row, "HTTPHost", limit=255).lower()
    url = text(row, "URL", limit=2000)
    if not host and not url:
        raise RowError("HTTPHost", "is required (or URL)")
    if not host:
        host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    upload = string_list(row, "UploadMatchedDlpProfiles")
    download = string_list(row, "DownloadMatchedDlpProfiles")
    sent, received = _request_bytes(row)
    return {
        "event_key": event_key(row, text(row, "RequestID", limit=60), "gateway_http"),
        "at": timestamp(row, "Datetime"),
        "email": address,
        "user_id": resolve(address, device) if (address or device) else None,
        "device_id": device,
        "device_name": text(row, "DeviceName", limit=120),
        "host": host,
        "url": url,
        "http_method": text(row, "HTTPMethod", limit=12).upper(),
        "http_status": integer(row, "HTTPStatusCode", high=999) or 0,
        "action": text(row, "Action", limit=32),
        "policy_name": text(row, "PolicyName", limit=200),
        "application_ids": string_list(row, "ApplicationIDs"),
        "application_names": string_list(row, "ApplicationNames"),
        "category_ids": string_list(row, "CategoryIDs"),
        "category_names": string_list(row, "CategoryNames"),
        "upload_dlp_profiles": upload,
        "download_dlp_profiles": download,
        "dlp_match_count": min(len(upload) + len(download), 32767),
        "blocked_file_name": text(row, "BlockedFileName", limit=255),
        "blocked_file_reason": text(row, "BlockedFileReason", limit=64),
        "blocked_file_hash": text(row, "BlockedFileHash", limit=128),
        "source_ip": ip(row, "SourceIP"),
        "source_country": country(row, "SourceIPCountryCode"),
        "user_agent": text(row, "UserAgent", limit=300),
        "bytes_sent": sent,
        "bytes_received": received,
    }


def _query_name(row: Mapping[str, Any]) -> str:
    """The queried name without its trailing dot, lowercased; a root query stays ``"."`` (as
    Cloudflare logs it), never an empty name."""
    name = text(row, "QueryName", limit=255, required=True)
    return name.rstrip(".").lower() or "."


def parse_gateway_dns(row: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
    address = email(row, "Email")
    device = text(row, "DeviceID", limit=120)
    names = string_list(row, "QueryCategoryNames")
    return {
        "event_key": event_key(row, text(row, "QueryID", limit=60), "gateway_dns"),
        "at": timestamp(row, "Datetime"),
        "email": address,
        "user_id": resolve(address, device) if (address or device) else None,
        "device_id": device,
        "query_name": _query_name(row),
        "category_ids": string_list(row, "QueryCategoryIDs"),
        "category_names": names,
        "resolver_decision": text(row, "ResolverDecision", limit=40),
        "policy_name": text(row, "PolicyName", limit=200),
        "source_ip": ip(row, "SrcIP"),
        "source_country": country(row, "SrcIPCountryCode"),
    }


def _score(assessment: Mapping[str, Any], name: str) -> int | None:
    return integer(assessment, name, low=0, high=100)


PLATFORMS = {"mac": "macOS", "windows": "Windows", "linux": "Linux", "ios": "iOS", "android": "Android"}


def parse_crowdstrike(row: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
    """A Zero Trust Assessment (``/zero-trust-assessment/entities/assessments/v1``, gofalcon's
    ``domain.SignalProperties``): ``aid``, ``assessment.{overall,os,sensor_config}``,
    ``event_platform``, ``system_serial_number``, ``modified_time``. An assessment names no
    person and carries no OS version: the person is the one the device ``aid`` is registered to
    (or an ``email`` the sender adds), and the OS version is taken from that device's posture
    when the row is stored (``storage.add_posture``)."""
    aid = text(row, "aid", limit=120, required=True)
    assessment = row.get("assessment")
    if not isinstance(assessment, dict):
        raise RowError("assessment", "is required (an object with overall, os and sensor_config)")
    scores = {name: _score(assessment, name) for name in ("overall", "os", "sensor_config")}
    if all(v is None for v in scores.values()):
        raise RowError("assessment", "has none of overall, os, sensor_config")
    address = email(row, "email")
    at = timestamp(row, "modified_time")
    platform = text(row, "event_platform", limit=60)
    return {
        "event_key": event_key(row, f"{aid}:{at.isoformat()}" if at else None, "crowdstrike_zta"),
        "at": at,
        "email": address,
        "user_id": resolve(address, aid),
        "provider": "crowdstrike",
        "device_id": aid,
        "device_name": text(row, "system_serial_number", limit=120),
        "os_name": PLATFORMS.get(platform.lower(), platform),
        "os_version": "",
        "overall_score": scores["overall"],
        "os_score": scores["os"],
        "sensor_config_score": scores["sensor_config"],
    }


# Windows and local account names that are never a person in the directory.
SYSTEM_ACCOUNTS = {"system", "local service", "network service", "administrator", "guest", "root", "defaultaccount"}


def sentinelone_person(upn: str, user_name: str, agent_domain: str, domains: Mapping[str, str]) -> str:
    """The e-mail address of the person a SentinelOne threat names, or "" (then the device decides).

    1. ``agentLastLoggedInUpn`` when it is an address (``ana@acme.example``);
    2. ``agentLastLoggedInUserName`` when it is itself an address (``ana@acme.example``);
    3. ``DOMAIN\\user`` (or ``user`` with ``agentDomain``): ``user@<mail domain>`` when the Windows
       domain is mapped to a mail domain in ``RISK_SENTINELONE_DOMAINS`` (``ACME=acme.example``;
       NetBIOS or DNS domain names, case-insensitive);
    4. anything else (a local account, ``NT AUTHORITY\\SYSTEM``, an unmapped domain, ``WORKGROUP``)
       names nobody."""
    if "@" in upn:
        return upn.lower()
    name = user_name.strip()
    if "@" in name:
        return name.lower()
    domain, _, user = name.rpartition("\\")
    domain = (domain or agent_domain).strip().lower()
    user = user.strip().lower()
    if not user or not domain or user in SYSTEM_ACCOUNTS or domain in ("nt authority", "workgroup", "unknown"):
        return ""
    mapped = {k.lower(): v.lower() for k, v in domains.items()}.get(domain)
    return f"{user}@{mapped}" if mapped else ""


def _sentinelone_domains() -> Mapping[str, str]:
    return getattr(settings, "RISK_SENTINELONE_DOMAINS", {}) or {}


def parse_sentinelone(row: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
    """A threat as SentinelOne's ``/web/api/v2.1/threats`` returns it (``threatInfo``,
    ``agentRealtimeInfo``, ``agentDetectionInfo``). The person: an ``email`` the sender adds,
    else ``sentinelone_person`` from the logged-in user the agent reported, else the device."""
    info = row.get("threatInfo")
    if not isinstance(info, dict):
        raise RowError("threatInfo", "is required (an object)")
    agent = row.get("agentRealtimeInfo") if isinstance(row.get("agentRealtimeInfo"), dict) else {}
    detection = row.get("agentDetectionInfo") if isinstance(row.get("agentDetectionInfo"), dict) else {}
    threat_id = text(info, "threatId", limit=64) or text(row, "id", limit=64)
    if not threat_id:
        raise RowError("threatInfo.threatId", "is required")
    device = text(agent, "agentUuid", "agentId", limit=120) or text(detection, "agentUuid", limit=120)
    if not device:
        raise RowError("agentRealtimeInfo.agentUuid", "is required")
    address = email(row, "email") or sentinelone_person(
        text(detection, "agentLastLoggedInUpn", limit=254), text(detection, "agentLastLoggedInUserName", limit=254),
        text(detection, "agentDomain", limit=254), _sentinelone_domains())
    at = timestamp(info, "updatedAt", "createdAt")
    return {
        "event_key": event_key(row, f"{threat_id}:{at.isoformat()}" if at else None, "sentinelone_threats"),
        "at": at,
        "email": address,
        "user_id": resolve(address, device),
        "provider": "sentinelone",
        "device_id": device,
        "device_name": text(agent, "agentComputerName", limit=120),
        "os_name": text(agent, "agentOsName", limit=60),
        "os_version": text(agent, "agentOsRevision", limit=60),
        "threat_id": threat_id,
        "threat_name": text(info, "threatName", limit=255),
        "classification": text(info, "classification", limit=64),
        "confidence_level": text(info, "confidenceLevel", limit=32).lower(),
        "mitigation_status": text(info, "mitigationStatus", limit=64).lower(),
    }


PARSERS: dict[str, Callable[[Mapping[str, Any], Resolver], dict[str, Any]]] = {
    "access_requests": parse_access,
    "gateway_http": parse_gateway_http,
    "gateway_dns": parse_gateway_dns,
    "crowdstrike_zta": parse_crowdstrike,
    "sentinelone_threats": parse_sentinelone,
}


def parse_chunks(
    kind: str, body: bytes, resolve: Resolver, size: int = PARSE_CHUNK,
) -> Iterator[tuple[list[dict[str, Any]], list[Rejected], int]]:
    """(good rows, rejected rows, how many rows) for each chunk of ``size`` rows of a body."""
    parser = PARSERS[kind]
    may_hold_nul = NUL_ESCAPE in body  # one scan of the body; rows are walked only when it matches
    for chunk in row_chunks(body, size):
        good: list[dict[str, Any]] = []
        bad: list[Rejected] = []
        for line, item in chunk:
            if isinstance(item, RowError):
                bad.append(Rejected(line, item.field, item.reason))
                continue
            if not isinstance(item, dict):
                bad.append(Rejected(line, "", "each row must be a JSON object"))
                continue
            if may_hold_nul:
                where = nul_path(item)
                if where is not None:
                    bad.append(Rejected(line, where, "contains a NUL character (\\u0000), which cannot be stored"))
                    continue
            try:
                good.append(parser(item, resolve))
            except RowError as exc:
                bad.append(Rejected(line, exc.field, exc.reason))
        count = len(chunk)
        chunk = None  # type: ignore[assignment]  # free the decoded rows before the next chunk is read
        yield good, bad, count
        good = bad = None  # type: ignore[assignment]


def parse(kind: str, body: bytes, resolve: Resolver) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    """All rows of a body: (good rows, rejected rows, how many rows there were)."""
    good: list[dict[str, Any]] = []
    bad: list[Rejected] = []
    total = 0
    for chunk_good, chunk_bad, count in parse_chunks(kind, body, resolve):
        good += chunk_good
        bad += chunk_bad
        total += count
    return good, bad, total
