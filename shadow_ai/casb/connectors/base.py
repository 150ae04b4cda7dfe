"""The small interface every CASB connector implements, and the value types it speaks in.

A connector is a stateless class per vendor, registered in ``connectors/__init__.py``:

* ``key``, ``label``, ``credential_fields`` / ``config_fields`` (what the connect form asks),
  ``hosts`` (the vendor's fixed API base URLs) and ``finding_types`` (what it can report);
* ``check(ctx)`` — test the connection: a list of ``Check`` results that say what is wrong;
* ``steps(ctx)`` — the scan as a list of ``Step``s. The scanner calls ``step.fetch(ctx, cursor)``
  repeatedly; each call reads one page from the vendor and returns a ``Page`` of
  ``Observation``s (finding instances as the vendor reports them now) and the cursor of the next
  page (None when the step is done). The scanner saves the observations and the cursor in one
  transaction, so a scan stopped anywhere resumes from its last page and never counts twice.

Connectors never touch the database: everything they need between pages lives in ``ctx.state``
(a small JSON dict the scanner checkpoints with the cursor). What a connector puts under
``ctx.state["carry"]`` outlives the scan: the next scan starts with it as ``ctx.state["carried"]``,
if this one finished (a watermark: "interactions read up to here")."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from shadow_ai.casb.connectors.errors import ConnectorError, MalformedResponse
from shadow_ai.casb.connectors.http import VendorHTTP
from shadow_ai.casb.findings import FindingType
from shadow_ai.dlp import engine as dlp_engine


@dataclass(frozen=True)
class Field:
    """One input of the connect form. ``secret`` fields are stored encrypted and never shown."""

    name: str
    label: str
    help: str = ""
    secret: bool = False
    required: bool = True
    multiline: bool = False
    placeholder: str = ""
    default: str = ""


@dataclass(frozen=True)
class Check:
    """One line of a connection test: what was checked, whether it worked, and in what words."""

    name: str
    ok: bool
    detail: str
    #: A failed optional check leaves the integration usable (some findings are not checked).
    required: bool = True


@dataclass(frozen=True)
class AppSighting:
    """A third-party application someone authorized with OAuth (the Shadow AI library hears of it)."""

    external_id: str
    name: str
    hostnames: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    publisher: str = ""
    user: str = ""


@dataclass(frozen=True)
class Observation:
    """One finding instance as the vendor reports it now. ``key`` is stable across scans for the
    same asset (a key id, a user id, client id + user), which is what makes re-scans upserts."""

    type_key: str
    key: str
    asset: str
    asset_kind: str = ""
    owner: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    app: AppSighting | None = None


@dataclass
class Page:
    observations: list[Observation] = field(default_factory=list)
    assets: int = 0
    next_cursor: str | None = None


@dataclass(frozen=True)
class Step:
    """One part of a scan. ``types`` are the finding types it can report: when a step cannot run
    (a feature the vendor has off) its types are left as they were instead of being resolved."""

    key: str
    label: str
    fetch: Callable[[Context, str | None], Page]
    types: tuple[str, ...] = ()


class Skip(ConnectorError):
    """Raised by a step that cannot run for a reason the admin should read (a feature turned off
    at the vendor); the scan carries on and the step's finding types keep their state."""


@dataclass(frozen=True)
class DlpCheck:
    """The DLP profiles an integration scans file contents with: plain engine profiles, compiled
    by the scanner before the scan (connectors never touch the database). ``max_bytes`` caps what
    a connector downloads of one file; larger files are passed over and counted."""

    profiles: tuple[dlp_engine.Profile, ...]
    max_bytes: int

    def scan(self, text: str) -> list[dlp_engine.ProfileResult]:
        """The profiles this text triggers (more matches than the profile's match count)."""
        return [result for result in dlp_engine.scan(text, self.profiles) if result.triggered]

    @staticmethod
    def details(results: Sequence[dlp_engine.ProfileResult], *, limit: int = 10) -> dict[str, Any]:
        """What a finding keeps of a DLP match: profile names, counts and redacted matches with
        their redacted context (never the matched text itself)."""
        return {
            "dlp_profiles": [r.profile_name for r in results],
            "dlp_matches": sum(r.total for r in results),
            "dlp_samples": [{"profile": r.profile_name, "entry": m.entry_name, "match": m.redacted,
                             "context": m.context} for r in results for m in r.matches][:limit],
        }


@dataclass
class Context:
    """What a connector sees of its integration during one check or scan."""

    http: VendorHTTP
    credentials: Mapping[str, str]
    config: Mapping[str, Any]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: dict[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # per process, not checkpointed (tokens)
    #: The integration's DLP profiles, or None when it scans no file contents.
    dlp: DlpCheck | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def unchecked(self, *type_keys: str) -> None:
        """These finding types could not be checked in this scan: keep their instances as they are
        (a complete scan resolves only what it actually looked at)."""
        found = set(self.state.get("unchecked", []))
        found.update(type_keys)
        self.state["unchecked"] = sorted(found)

    def days(self, name: str, default: int) -> int:
        return int(self.thresholds.get(name, default))

    def ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


class Connector(ABC):
    """Base class of the vendor connectors (see the module docstring)."""

    key: ClassVar[str]
    label: ClassVar[str]
    vendor: ClassVar[str]
    summary: ClassVar[str] = ""
    credential_fields: ClassVar[Sequence[Field]] = ()
    config_fields: ClassVar[Sequence[Field]] = ()
    hosts: ClassVar[Mapping[str, str]] = {}
    finding_types: ClassVar[Sequence[FindingType]] = ()
    #: Default scan interval in hours (1 to 24).
    default_interval: ClassVar[int] = 24
    #: Credentials and permissions the vendor needs, for the connect page and docs/casb.md.
    requirements: ClassVar[Sequence[str]] = ()

    def http_options(self, credentials: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
        """Headers and an ``auth`` hook for ``VendorHTTP`` (the scanner adds timeouts and waits).
        Token-based vendors set ``auth`` in ``prepare`` instead."""
        return {}

    def prepare(self, ctx: Context) -> None:
        """Set ``ctx.http.auth`` / ``refresh_auth`` for vendors that trade credentials for a
        token; the token is fetched on the first request (no network here). Optional: key-based
        vendors need nothing here."""
        return None

    @abstractmethod
    def check(self, ctx: Context) -> list[Check]:
        """What "test connection" reports: one line per credential, scope or reachability check."""

    @abstractmethod
    def steps(self, ctx: Context) -> list[Step]:
        """The pages a scan walks, in order (each resumable from its cursor)."""

    @classmethod
    def type_keys(cls) -> set[str]:
        return {t.key for t in cls.finding_types}


# --- Helpers the connectors share ---------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """Vendor timestamps: Unix seconds (OpenAI, Compliance API) or RFC 3339 (everyone else)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def items(data: Any, key: str) -> list[Mapping[str, Any]]:
    """The list under ``key`` in a vendor reply, checked: a reply without it is malformed."""

    if not isinstance(data, Mapping):
        raise MalformedResponse(f"Expected a JSON object with “{key}”, got {type(data).__name__}.")
    found = data.get(key)
    if found is None:
        return []
    if not isinstance(found, list):
        raise MalformedResponse(f"Expected “{key}” to be a list, got {type(found).__name__}.")
    return [item for item in found if isinstance(item, Mapping)]


def check_call(name: str, call: Callable[[], Any], ok: str | Callable[[Any], str], *, required: bool = True,
               failed: str = "") -> Check:
    """Run one call of a connection test and describe the outcome in an admin's words;
    ``failed`` is put before the vendor's own explanation when the call fails."""
    try:
        result = call()
    except ConnectorError as exc:
        return Check(name, False, f"{failed} {exc.message}".strip(), required=required)
    return Check(name, True, ok(result) if callable(ok) else ok, required=required)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def first(values: Iterable[Any], default: Any = None) -> Any:
    return next(iter(values), default)
