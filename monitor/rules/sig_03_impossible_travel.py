"""SIG-03: no person signs in from two places further apart than they could have travelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from math import asin, cos, radians, sin, sqrt
from typing import Any

from monitor.rules._fixtures import account, directory, login, staff
from monitor.rules._hijack import stamp
from monitor.rules.base import Action, Case, Context, Raise, rule

_DIR = directory(account(emergency_access="backup_admin"), people=staff("p-1", "p-2"))
_CARDIFF = {"lat": 51.48, "lon": -3.18, "country": "GB"}
_BANGOR = {"lat": 53.23, "lon": -4.13, "country": "GB"}
_NEW_YORK = {"lat": 40.71, "lon": -74.01, "country": "US"}
_SYDNEY = {"lat": -33.87, "lon": 151.21, "country": "AU"}


def _login(time: str, id_: str, geo: dict[str, Any] | None, person_id: str = "p-1") -> dict[str, Any]:
    return login(time, id_, person_id=person_id, geo=geo)


CASES = [
    Case(
        "Cardiff then New York an hour later: alert",
        "alert",
        (_login("2026-05-01T09:00:00Z", "l-1", _CARDIFF), _login("2026-05-01T10:00:00Z", "l-2", _NEW_YORK)),
        _DIR,
        severity="high",
        status="open",
    ),
    Case(
        "Cardiff then New York eight hours later: no alert",
        "none",
        (_login("2026-05-01T09:00:00Z", "l-1", _CARDIFF), _login("2026-05-01T17:00:00Z", "l-2", _NEW_YORK)),
        _DIR,
    ),
    Case(
        "Cardiff then Bangor two hours later: no alert",
        "none",
        (_login("2026-05-01T09:00:00Z", "l-1", _CARDIFF), _login("2026-05-01T11:00:00Z", "l-2", _BANGOR)),
        _DIR,
    ),
    Case(
        "two places far apart at the same instant: alert",
        "alert",
        (_login("2026-05-01T09:00:00Z", "l-1", _CARDIFF), _login("2026-05-01T09:00:00Z", "l-2", _BANGOR)),
        _DIR,
    ),
    Case(
        "one place twice at the same instant: no alert",
        "none",
        (_login("2026-05-01T09:00:00Z", "l-1", _CARDIFF), _login("2026-05-01T09:00:00Z", "l-2", _CARDIFF)),
        _DIR,
    ),
    Case(
        "a sign-in without a location in between does not hide the jump",
        "alert",
        (
            _login("2026-05-01T09:00:00Z", "l-1", _CARDIFF),
            _login("2026-05-01T09:30:00Z", "l-2", None),
            _login("2026-05-01T11:00:00Z", "l-3", _SYDNEY),
        ),
        _DIR,
    ),
    Case(
        "no location on either sign-in: no alert",
        "none",
        (_login("2026-05-01T09:00:00Z", "l-1", None), _login("2026-05-01T09:10:00Z", "l-2", None)),
        _DIR,
    ),
    Case(
        "two people in two places: no alert",
        "none",
        (_login("2026-05-01T09:00:00Z", "l-1", _CARDIFF), _login("2026-05-01T10:00:00Z", "l-2", _NEW_YORK, "p-2")),
        _DIR,
    ),
    Case(
        "measured from the latest sign-in, not the first",
        "alert",
        (
            _login("2026-05-01T01:00:00Z", "l-1", _CARDIFF),
            _login("2026-05-01T08:00:00Z", "l-2", _CARDIFF),
            _login("2026-05-01T09:00:00Z", "l-3", _NEW_YORK),
        ),
        _DIR,
    ),
]

# IP geolocation is good to tens of km: closer than this is never impossible, even at the same instant.
NEAR_KM = 50.0
EARTH_KM = 6371.0
MAX_TRACKED = 256

# A person's latest sign-in with a location: (time, lat, lon, country, event id).
Seen = tuple[datetime, float, float, str | None, str]


@rule(
    "SIG-03",
    title="No impossible travel",
    severity="high",
    sources=["practice: impossible travel"],
    on=("login.succeeded",),
    window="travel_max_kmh between a person's consecutive located sign-ins",
    cases=CASES,
)
def sig_03_impossible_travel(event: Any, state: dict[str, Seen] | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when one person's sign-ins imply travel faster than travel_max_kmh: two people share a login."""
    # State: person -> their latest located sign-in here (Seen); sign-ins without a location leave it as is.
    d = event.data
    geo = d.geo
    pid = d.person_id
    if geo is None or pid is None:
        return state, ()
    now = event.time
    lat, lon = geo.lat, geo.lon
    prev = state.get(pid) if state is not None else None
    if prev is None:
        return _remember(state, pid, (now, lat, lon, geo.country, event.id)), ()
    later = prev[0] <= now
    new = _remember(state, pid, (now, lat, lon, geo.country, event.id)) if later else state
    if prev[1] == lat and prev[2] == lon:
        return new, ()
    km = distance_km(prev[1], prev[2], lat, lon)
    if km <= NEAR_KM:
        return new, ()
    hours = abs((now - prev[0]).total_seconds()) / 3600
    limit = ctx.params.travel_max_kmh
    if hours and km / hours <= limit:
        return new, ()
    speed = f"{km / hours:,.0f} km/h, over the {limit:,.0f} km/h limit" if hours else "at the same moment"
    a = ctx.account.account_id
    return new, (
        Raise(
            key=event.id,
            person_id=pid,
            evidence=(prev[4], event.id),
            summary=f"{pid} signed in to {a} from {_place(geo.lat, geo.lon, geo.country)} at {stamp(now)}, "
            f"{km:,.0f} km from their sign-in from {_place(prev[1], prev[2], prev[3])} at {stamp(prev[0])}: "
            f"{speed}",
            next_step=f"Ask {pid} which sign-in was theirs; if not both, end every session on {a} and rotate the "
            "credential",
        ),
    )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points (haversine), in km."""
    dlat = radians(lat2 - lat1)
    dlon = radians(lon2 - lon1)
    h = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) ** 2
    return 2 * EARTH_KM * asin(min(1.0, sqrt(h)))


def _place(lat: float, lon: float, country: str | None) -> str:
    """A location for a summary: '51.48,-3.18 (GB)'."""
    return f"{lat:.2f},{lon:.2f}" + (f" ({country})" if country else "")


def _remember(state: dict[str, Seen] | None, pid: str, seen: Seen) -> dict[str, Seen]:
    """The state with pid's latest located sign-in, the earliest-tracked person dropped when full."""
    if not state or (len(state) == 1 and pid in state):
        return {pid: seen}
    new = dict(state)
    if pid not in new and len(new) >= MAX_TRACKED:
        del new[next(iter(new))]
    new[pid] = seen
    return new
