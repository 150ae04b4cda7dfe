"""Where a sign-in came from, offline.

With ``RISK_GEOIP_CITY_DATABASE`` pointing at a MaxMind-format city database (GeoLite2 City or
DB-IP City Lite, supplied by the operator), an address is placed at its city. Without one, it is
placed at the capital of its country (the country comes from the log row, or from the regional
registries' allocations that ``iptocc`` ships). Nothing is ever looked up on the internet."""

from __future__ import annotations

import csv
import ipaddress
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import iptocc
import maxminddb
from django.conf import settings

DATA = Path(__file__).parent / "data" / "country_locations.csv"
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    country: str
    city: str
    precision: str  # "city" or "country"


@cache
def _capitals() -> dict[str, tuple[str, float, float]]:
    with DATA.open(encoding="utf-8") as handle:
        return {row["country"]: (row["city"], float(row["latitude"]), float(row["longitude"]))
                for row in csv.DictReader(handle)}


@cache
def _city_reader(path: str):
    return maxminddb.open_database(path)


def reset_caches() -> None:
    _city_reader.cache_clear()


def _public(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return None if (address.is_private or address.is_loopback or address.is_reserved) else str(address)


def locate(ip: str | None, country: str = "") -> Location | None:
    address = _public(ip)
    path = getattr(settings, "RISK_GEOIP_CITY_DATABASE", "")
    if address and path:
        record = _city_reader(path).get(address)
        if isinstance(record, dict) and record.get("location"):
            loc = record["location"]
            iso = (record.get("country") or {}).get("iso_code", "") or country
            city = ((record.get("city") or {}).get("names") or {}).get("en", "")
            return Location(float(loc["latitude"]), float(loc["longitude"]), iso.upper(), city, "city")
    country = (country or "").upper()
    if not country and address:
        country = (iptocc.country_code(address) or "").upper()
    capital = _capitals().get(country)
    if capital is None:
        return None
    return Location(capital[1], capital[2], country, capital[0], "country")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))
