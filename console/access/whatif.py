"""The request a what-if tool decides for: the policy tester and the policy editor's impact
preview let the admin say where the request comes from (address, country) and from which
device, since policies select on all three. Pure reads; nothing here is recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from django.db import models
from django.db.models import F
from django.utils import timezone

from console.access import decisions, engine
from console.access.models import Device


class DeviceChoice(models.TextChoices):
    NONE = "none", "No device the console knows"
    OWN = "own", "Each person's own registered device (the one seen last)"
    DESCRIBED = "described", "A device like the one described below"


@dataclass(frozen=True)
class Scenario:
    """Where the request comes from: ``ip`` and ``country`` (empty: the country of the address,
    from registry data), and the device: none, each person's own, or ``posture``."""

    ip: str | None = None
    country: str = ""
    device: str = DeviceChoice.NONE
    posture: engine.DevicePosture | None = None

    def describe(self) -> str:
        """The scenario in words, for the page that shows the result."""
        where = f"from {self.ip}" if self.ip else "from no known address"
        base = decisions.request_context(ip=self.ip, country=self.country)
        if base.country:
            where += f" in {base.country}"
        if self.device == DeviceChoice.OWN:
            return f"{where}, on each person's own registered device"
        if self.device == DeviceChoice.DESCRIBED and self.posture is not None:
            p = self.posture
            traits = ["managed" if p.managed else "unmanaged", "encrypted" if p.disk_encrypted else "unencrypted"]
            system = " ".join(x for x in (p.os, p.os_version) if x) or "device"
            edr = f", EDR score {p.edr_score}" if p.edr_score is not None else ""
            return f"{where}, on a {', '.join(traits)} {system}{edr}"
        return f"{where}, on no device the console knows"

    def requests_for(self, user_ids: Iterable[int]) -> Callable[[int], engine.RequestContext]:
        """``user id -> RequestContext``: one shared context, except with each person's own
        device (read for everyone in one query)."""
        base = decisions.request_context(ip=self.ip, country=self.country, now=timezone.now())
        if self.device == DeviceChoice.DESCRIBED and self.posture is not None:
            shared = replace(base, device=self.posture)
            return lambda _user_id: shared
        if self.device != DeviceChoice.OWN:
            return lambda _user_id: base
        latest: dict[int, Device] = {}
        rows = Device.objects.filter(user_id__in=list(user_ids)).order_by(
            "user_id", F("last_seen_at").desc(nulls_last=True), "-created_at")
        for device in rows:
            latest.setdefault(device.user_id, device)
        contexts = {user_id: replace(base, device=decisions.device_posture(device))
                    for user_id, device in latest.items()}
        return lambda user_id: contexts.get(user_id, base)
