"""Demo data: a month in the life of a fictional university's social media accounts, and a synthetic load.

Everything is derived from a seed and the fixed start `START` (2026-10-01T00:00:00Z): no wall clock, no
I/O except in `write_demo`, and only `random.Random(seed)`. The same seed gives byte-identical output.

- `build_directory(seed)`: the register of "Aberwen University" (people, accounts, organisation), as the
  dict form of the directory file (shared/EVENTS.md, "The directory file").
- `build_events(directory, seed, days)`: a month of CloudEvents 1.0 objects against that register: daily
  sign-ins and posts, device approvals, credential rotations, and the stories the controls are there to
  catch (leavers handled well and badly, movers, a hijacked account, password guessing, MFA fatigue, an
  incident, an unregistered account, ...). See `_Month` for the cast.
- `write_demo(out_dir, seed, days)`: `directory.yaml` and `events.jsonl` in `out_dir`.
- `mix_lines(n, seed, accounts, people)` / `mix_directory(accounts, people, seed)`: a streaming synthetic
  load for benchmarks, 90% sign-in signals, about 20 events per second of event time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from random import Random
from typing import Any

from monitor.yamlfile import dump_yaml

START = datetime(2026, 10, 1, tzinfo=UTC)
ORG_NAME = "Aberwen University"
DOMAIN = "aberwen.ac.uk"
HANDLE_PREFIX = "Aberwen"
FORBIDDEN_ABBREVIATIONS = ["Dept", "Univ"]
PLATFORMS = ("x", "instagram", "facebook", "linkedin", "tiktok", "youtube")

MIN, HOUR, DAY = 60, 3600, 86400

# Event sources and the id prefix of each.
SIGNIN = "okta/signin"
DEVICES = "okta/device-trust"
VAULT = "vault/audit"
HR = "hr/people-system"
REGISTER = "directory/comms-register"
INCIDENTS = "comms/incident-desk"
EMERGENCY = "comms/emergency-access"
_ID_PREFIX = {SIGNIN: "si", DEVICES: "dt", VAULT: "va", HR: "hr", REGISTER: "reg", INCIDENTS: "inc", EMERGENCY: "em"}

FIRST_NAMES = (
    "Alys", "Bethan", "Cerys", "Dafydd", "Eleri", "Ffion", "Gareth", "Huw", "Iwan", "Lowri",
    "Megan", "Nia", "Osian", "Rhys", "Sian", "Tomos", "Aled", "Catrin", "Emyr", "Gwen",
    "Hannah", "James", "Sarah", "David", "Emma", "Daniel", "Laura", "Michael", "Rachel", "Simon",
    "Priya", "Amir", "Chen", "Olu", "Marta", "Lukas", "Aisha", "Sofia", "Tariq", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Jones", "Evans", "Davies", "Williams", "Thomas", "Roberts", "Hughes", "Lewis", "Morgan", "Griffiths",
    "Price", "Owen", "Rees", "Jenkins", "Powell", "Parry", "Lloyd", "Pritchard", "Vaughan", "Edwards",
    "Morris", "James", "Phillips", "Bowen", "Howells", "Pugh", "Watkins", "Harris", "Walker", "Khan",
    "Patel", "Singh", "Chen", "Nowak", "Murphy", "Campbell", "Wright", "Baker", "Ahmed", "Okafor",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Unit:
    key: str  # role mailbox social.<key>@
    name: str
    stem: str | None  # handle is Aberwen<stem>; None: the unit runs no accounts
    kind: str  # central, school, department, sport, service, staff
    staff: int  # relative head count


UNITS: tuple[_Unit, ...] = (
    _Unit("comms", "Communications and Marketing", "", "central", 10),
    _Unit("computing", "School of Computing", "Computing", "school", 16),
    _Unit("law", "School of Law", "Law", "school", 12),
    _Unit("business", "Business School", "Business", "school", 16),
    _Unit("education", "School of Education", "Education", "school", 12),
    _Unit("art", "School of Art", "Art", "school", 10),
    _Unit("music", "School of Music", "Music", "school", 9),
    _Unit("engineering", "School of Engineering", "Engineering", "school", 15),
    _Unit("health", "School of Health Sciences", "Health", "school", 16),
    _Unit("history", "Department of History", "History", "department", 10),
    _Unit("physics", "Department of Physics", "Physics", "department", 10),
    _Unit("geography", "Department of Geography", "Geography", "department", 10),
    _Unit("psychology", "Department of Psychology", "Psychology", "department", 11),
    _Unit("english", "Department of English", "English", "department", 9),
    _Unit("welsh", "Department of Welsh", "Cymraeg", "department", 8),
    _Unit("maths", "Department of Mathematics", "Maths", "department", 9),
    _Unit("biology", "Department of Biology", "Biology", "department", 11),
    _Unit("chemistry", "Department of Chemistry", "Chemistry", "department", 9),
    _Unit("sport", "Aberwen Sport", "Sport", "sport", 14),
    _Unit("library", "Library Services", "Library", "service", 14),
    _Unit("careers", "Careers Service", "Careers", "service", 9),
    _Unit("admissions", "Admissions", "StudyHere", "service", 11),
    _Unit("alumni", "Alumni Relations", "Alumni", "service", 7),
    _Unit("research", "Research Office", "Research", "service", 10),
    _Unit("international", "International Office", "International", "service", 9),
    _Unit("accommodation", "Accommodation Services", "Living", "service", 9),
    _Unit("arts", "Arts Centre", "ArtsCentre", "service", 9),
    _Unit("it", "IT Services", "ITServices", "service", 18),
    _Unit("hr", "Human Resources", None, "staff", 12),
    _Unit("finance", "Finance", None, "staff", 14),
    _Unit("estates", "Estates and Facilities", None, "staff", 18),
)
_UNIT_BY_NAME = {u.name: u for u in UNITS}

# How many accounts a unit of each kind runs, and how likely each platform is for it.
_ACCOUNT_COUNT = {"school": (4, 6), "department": (3, 4), "sport": (5, 6), "service": (3, 6)}
_PLATFORM_WEIGHT = {"x": 6.0, "instagram": 6.0, "facebook": 5.0, "linkedin": 3.0, "tiktok": 2.0, "youtube": 1.5}

CAMPUS = (52.4153, -4.0829)  # Aberystwyth-ish


@lru_cache(maxsize=4096)
def _date(day: int) -> str:
    return (START + timedelta(days=day)).strftime("%Y-%m-%d")


def _iso(t: int) -> str:
    """Seconds after START as RFC 3339 with Z."""
    day, rest = divmod(t, DAY)
    h, rest = divmod(rest, HOUR)
    m, s = divmod(rest, MIN)
    return f"{_date(day)}T{h:02d}:{m:02d}:{s:02d}Z"


def _fingerprint(rng: Random) -> str:
    return f"fp-{rng.getrandbits(64):016x}"


# ----- the directory --------------------------------------------------------------------------------


def build_directory(seed: int = 7) -> dict[str, Any]:
    """The register of Aberwen University at the start of the month (the directory file as a dict)."""
    rng = Random(seed)
    people: list[dict[str, Any]] = []
    by_unit: dict[str, list[str]] = {u.key: [] for u in UNITS}
    emails: set[str] = set()
    total_weight = sum(u.staff for u in UNITS)
    target = 400
    plan: list[_Unit] = []
    for u in UNITS:
        plan += [u] * round(u.staff * target / total_weight)
    while len(plan) < target:
        plan.append(UNITS[-1])
    plan = plan[:target]
    rng.shuffle(plan)
    # the comms team first, so its head is a low id
    plan.sort(key=lambda u: u.kind != "central")
    for i, unit in enumerate(plan, 1):
        pid = f"p-{i:04d}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower()
        n = 2
        while f"{local}@{DOMAIN}" in emails:
            local = f"{first}.{last}{n}".lower()
            n += 1
        emails.add(f"{local}@{DOMAIN}")
        groups: list[str] = []
        if unit.kind == "central" and len(by_unit["comms"]) < 8:
            groups.append("comms-team")
        elif unit.key == "it" and len(by_unit["it"]) < 3:
            groups.append("it-security")
        elif unit.key == "hr" and len(by_unit["hr"]) < 3:
            groups.append("hr-team")
        people.append({"person_id": pid, "email": f"{local}@{DOMAIN}", "unit": unit.name, "groups": groups})
        by_unit[unit.key].append(pid)

    comms = by_unit["comms"][:8]
    head_of_comms, deputy = comms[0], comms[1]
    email_of = {p["person_id"]: p["email"] for p in people}

    accounts: list[dict[str, Any]] = []

    def add(
        unit: _Unit, platform: str, admins: list[str], manager: str | None, editors: list[str], emergency: str
    ) -> None:
        stem = unit.stem or ""
        central = unit.kind == "central"
        acc: dict[str, Any] = {
            "account_id": f"acc-{len(accounts) + 1:03d}",
            "platform": platform,
            "handle": f"{HANDLE_PREFIX}{stem}" if stem else f"{HANDLE_PREFIX}University",
            "registration_email": f"socialmedia@{DOMAIN}" if central else f"social.{unit.key}@{DOMAIN}",
            "credential_model": "shared_credential" if rng.random() < 0.3 else "named_logins",
            "mfa_enabled": central or rng.random() < 0.94,
            "central": central,
            "approved_by": rng.choice((head_of_comms, head_of_comms, deputy)),
            "emergency_access": emergency,
            "admins": admins,
        }
        if manager:
            acc["manager"] = manager
        if editors:
            acc["editors"] = editors
        accounts.append(acc)

    team = [p for p in comms if p != head_of_comms]
    backups = 0
    for unit in UNITS:
        if unit.stem is None:
            continue
        if unit.kind == "central":
            for platform in PLATFORMS:
                admins = sorted(rng.sample(team, 2))
                rest = [p for p in team if p not in admins]
                add(unit, platform, admins, head_of_comms, sorted(rng.sample(rest, rng.randint(0, 2))), "backup_admin")
            continue
        staff = by_unit[unit.key]
        officers = rng.sample(staff, 3 if len(staff) >= 10 else 2)
        unit_manager = rng.choice([p for p in staff if p not in officers])
        others = [p for p in staff if p not in officers and p != unit_manager]
        lo, hi = _ACCOUNT_COUNT[unit.kind]
        count = rng.randint(lo, hi)
        # weighted sampling without replacement, then the usual platform order
        chosen = sorted(PLATFORMS, key=lambda p: rng.random() ** (1.0 / _PLATFORM_WEIGHT[p]), reverse=True)[:count]
        for platform in (p for p in PLATFORMS if p in chosen):
            r = rng.random()
            n_admins = 1 if r < 0.08 else 3 if r > 0.94 else 2
            # a backup admin seat held by a comms-team member is one of the named admins
            backup = n_admins > 1 and rng.random() < 0.45
            admins = sorted(rng.sample(officers, min(n_admins - backup, len(officers))))
            if backup:
                admins.append(team[backups % len(team)])
                backups += 1
            manager = None if rng.random() < 0.035 else unit_manager
            editors = sorted(rng.sample(others, rng.randint(1, 2))) if others and rng.random() < 0.3 else []
            add(unit, platform, admins, manager, editors, "backup_admin" if backup else "escrow")

    # The exceptions a real register has. Chosen among non-central accounts, each at most once.
    plain = [a for a in accounts if not a["central"]]
    picks = rng.sample(plain, 10)
    for acc in picks[0:3]:  # registered with a person's own address
        acc["registration_email"] = email_of[next((p for p in acc["admins"] if p not in comms), acc["admins"][0])]
    sport = [a for a in plain if a["registration_email"] == f"social.sport@{DOMAIN}" and a not in picks[0:3]]
    (sport[0] if sport else picks[3])["registration_email"] = "aberwen.sport.teams@gmail.com"
    for acc in picks[4:6]:  # handles without the prefix
        acc["handle"] = f"{acc['handle'][len(HANDLE_PREFIX) :]}Aber"
    arts = [a for a in plain if a["handle"] == f"{HANDLE_PREFIX}ArtsCentre"]
    if arts:  # the Arts Centre keeps its established Welsh-language brand, with an exemption
        arts[0]["handle"] = "CanolfanCelfyddydauAberwen"
        arts[0]["naming_exempt"] = True
    physics = [a for a in plain if a["handle"] == f"{HANDLE_PREFIX}Physics"]
    if physics:
        physics[-1]["handle"] = f"{HANDLE_PREFIX}PhysicsDept"  # a forbidden abbreviation
    for acc in rng.sample([a for a in plain if a["emergency_access"] == "escrow"], 4):
        acc["emergency_access"] = "none"  # no emergency route for the comms team
    for acc in picks[7:10]:  # never approved
        del acc["approved_by"]
    # at least one shared credential without MFA (the password-guessing story needs one)
    if not any(a["credential_model"] == "shared_credential" and not a["mfa_enabled"] for a in plain):
        victim = next(a for a in plain if a["credential_model"] == "shared_credential")
        victim["mfa_enabled"] = False

    # canonical key order for the file
    order = (
        "account_id",
        "platform",
        "handle",
        "registration_email",
        "credential_model",
        "mfa_enabled",
        "central",
        "approved_by",
        "naming_exempt",
        "emergency_access",
        "admins",
        "manager",
        "editors",
    )
    accounts = [{k: a[k] for k in order if k in a} for a in accounts]
    return {
        "organisation": {
            "domains": [DOMAIN],
            "handle_prefix": HANDLE_PREFIX,
            "forbidden_abbreviations": list(FORBIDDEN_ABBREVIATIONS),
        },
        "people": people,
        "accounts": accounts,
    }


# ----- a month of events ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Seat:
    """Somebody who uses an account from `start` until `end` (seconds after START)."""

    person_id: str
    role: str
    start: int
    end: int
    weight: float = 1.0  # how often they sign in, relative to others in the role


@dataclass(slots=True)
class _Profile:
    """How a person signs in: devices, addresses, where they live."""

    laptop: str
    phone: str | None
    byod: str | None
    home_ip: str
    home_geo: dict[str, Any]


class _Month:
    """Builds the month: the cast of the stories is chosen from the register with the seed.

    Order of work: the stories first (each claims its accounts and people, emits its own events and
    limits who is active when), then the daily routine around them, then routine credential rotations.
    Times are integer seconds after START; `finish` sorts and numbers the events.
    """

    def __init__(self, directory: dict[str, Any], seed: int, days: int) -> None:
        self.rng = Random(seed * 7919 + 17)
        self.days = days
        self.end = days * DAY
        self.raw: list[tuple[int, int, str, str, dict[str, Any], str | None]] = []
        self.people: dict[str, dict[str, Any]] = {p["person_id"]: p for p in directory["people"]}
        self.accounts: dict[str, dict[str, Any]] = {a["account_id"]: dict(a) for a in directory["accounts"]}
        self.order: list[str] = list(self.accounts)
        self.comms_team = sorted(p for p, v in self.people.items() if "comms-team" in v.get("groups", []))
        self.seats: dict[str, list[_Seat]] = {}
        for aid, a in self.accounts.items():
            seats = [_Seat(p, "admin", 0, self.end) for p in a.get("admins", [])]
            if a.get("manager"):
                seats.append(_Seat(a["manager"], "manager", 0, self.end))
            seats += [_Seat(p, "editor", 0, self.end) for p in a.get("editors", [])]
            if not a.get("central"):  # a comms-team backup admin seat is for emergencies
                for seat in seats:
                    if seat.person_id in self.comms_team:
                        seat.weight = 0.03
            self.seats[aid] = seats
        self.reach: dict[str, list[tuple[str, str]]] = {}  # person -> (account, role), in seat order
        for aid, seats in self.seats.items():
            for s in seats:
                self.reach.setdefault(s.person_id, []).append((aid, s.role))
        self.span: dict[str, tuple[int, int]] = {aid: (0, self.end) for aid in self.accounts}
        self.blackout: dict[str, list[tuple[int, int]]] = {}
        self.post_blackout: list[tuple[int, int]] = []  # non-central accounts stay quiet (incidents)
        self.no_rotation: dict[str, int] = {}  # account -> no routine rotation from this time on
        self.dormant: set[str] = set()
        self.used_accounts: set[str] = set()
        self.used_people: set[str] = set()
        self.approved: dict[tuple[str, str, str], int] = {}
        self.profiles: dict[str, _Profile] = {}
        self.activity: dict[str, float] = {}
        self.unit_people: dict[str, list[str]] = {}
        for pid in sorted(self.people):
            self.unit_people.setdefault(self.people[pid].get("unit") or "", []).append(pid)
        self.next_person = max((int(p[2:]) for p in self.people if p[2:].isdigit()), default=0) + 1
        self.next_account = max((int(a[4:]) for a in self.accounts if a[4:].isdigit()), default=0) + 1
        rng = self.rng
        for pid in sorted(self.people):
            self._make_profile(pid)
        for aid in self.order:
            central = self.accounts[aid].get("central")
            self.activity[aid] = 1.0 if central else rng.choice((0.4, 0.6, 0.6, 0.8, 0.9, 1.0))

    # ----- primitives ---------------------------------------------------------------------------

    def emit(self, t: int, source: str, type_: str, data: dict[str, Any], subject: str | None = None) -> None:
        self.raw.append((t, len(self.raw), source, type_, data, subject))

    def _make_profile(self, pid: str) -> _Profile:
        rng = self.rng
        n = int(pid[2:]) if pid[2:].isdigit() else len(self.profiles) + 1
        prof = _Profile(
            laptop=f"AWN-LT-{n:04d}",
            phone=f"AWN-PH-{n:04d}" if rng.random() < 0.5 else None,
            byod=None,
            home_ip=f"192.0.2.{n % 254 + 1}" if n % 2 else f"100.64.{n % 200}.{n % 254 + 1}",
            home_geo={
                "lat": round(CAMPUS[0] + rng.uniform(-0.12, 0.12), 4),
                "lon": round(CAMPUS[1] + rng.uniform(-0.15, 0.15), 4),
                "country": "GB",
            },
        )
        self.profiles[pid] = prof
        return prof

    def profile(self, pid: str) -> _Profile:
        return self.profiles.get(pid) or self._make_profile(pid)

    def platform_source(self, aid: str) -> str:
        return f"platform/{self.accounts.get(aid, {}).get('platform', 'other')}-audit"

    def holders(self, aid: str, t: int, roles: tuple[str, ...] = ("admin", "manager")) -> list[str]:
        return [s.person_id for s in self.seats.get(aid, []) if s.role in roles and s.start <= t < s.end]

    def approver(self, aid: str, pid: str, t: int) -> str:
        """Who approves pid's device: the account manager (MFA-03), their own devices too; without one, an admin
        does, which MFA-03 does not count (the missing manager is DIR-03's story)."""
        managers = self.holders(aid, t, ("manager",))
        admins = [p for p in self.holders(aid, t, ("admin",)) if p != pid]
        return (managers or admins or [pid])[0]

    def admin_actor(self, aid: str, t: int, avoid: tuple[str, ...] = ()) -> str:
        """Somebody allowed to change the account (its manager, else an admin), not one of `avoid`."""
        for p in self.holders(aid, t, ("manager",)) + self.holders(aid, t, ("admin",)):
            if p not in avoid:
                return p
        return self.comms_team[0] if self.comms_team else "p-0001"

    def end_seat(self, aid: str, pid: str, t: int) -> None:
        for s in self.seats.get(aid, []):
            if s.person_id == pid and s.end > t:
                s.end = t

    def add_seat(self, aid: str, pid: str, role: str, t: int) -> None:
        self.seats.setdefault(aid, []).append(_Seat(pid, role, t, self.end))
        self.reach.setdefault(pid, []).append((aid, role))

    def accounts_of(self, pid: str, roles: tuple[str, ...] = ("admin", "manager", "editor")) -> list[str]:
        out: list[str] = []
        for aid, role in self.reach.get(pid, ()):
            if role in roles and aid not in out:
                out.append(aid)
        return out

    def mfa_on(self, aid: str) -> bool:
        return bool(self.accounts.get(aid, {}).get("mfa_enabled", False))

    def ensure_approved(self, aid: str, pid: str, device: str, t: int) -> None:
        key = (aid, pid, device)
        if key in self.approved and self.approved[key] <= t:
            return
        at = max(0, t - self.rng.randint(10 * MIN, 90 * MIN))
        actor = self.approver(aid, pid, t)
        # not before the approver holds their role here (on an account registered just before this sign-in)
        since = min((s.start for s in self.seats.get(aid, []) if s.person_id == actor and s.start <= t), default=0)
        at = max(at, since)
        self.approved[key] = at
        self.emit(
            at,
            DEVICES,
            "device.approved",
            {"account_id": aid, "actor_id": actor, "person_id": pid, "device_id": device},
            aid,
        )

    def rotate(self, aid: str, actor: str, t: int, fingerprint: str | None = None) -> None:
        self.emit(
            t,
            VAULT,
            "credential.rotated",
            {"account_id": aid, "actor_id": actor, "fingerprint": fingerprint or _fingerprint(self.rng)},
            aid,
        )

    def signin(
        self,
        aid: str,
        pid: str | None,
        t: int,
        *,
        device: str | None = None,
        managed: bool = True,
        mfa: bool | None = None,
        ip: str | None = None,
        geo: dict[str, Any] | None = None,
        approve: bool = True,
    ) -> None:
        """A successful sign-in, with its MFA prompt and the device approval it needs the first time."""
        rng = self.rng
        prof = self.profile(pid) if pid else None
        if device is None:
            device = prof.laptop if prof else f"dev-{rng.getrandbits(32):08x}"
        if approve and pid:
            self.ensure_approved(aid, pid, device, t)
        if mfa is None:
            mfa = self.mfa_on(aid)
        if mfa and pid:
            if rng.random() < 0.015:  # missed the first push
                self.emit(
                    t - rng.randint(70, 120),
                    SIGNIN,
                    "mfa.challenge",
                    {"account_id": aid, "person_id": pid, "result": "timeout"},
                    aid,
                )
            self.emit(
                t - rng.randint(4, 25),
                SIGNIN,
                "mfa.challenge",
                {"account_id": aid, "person_id": pid, "result": "approved"},
                aid,
            )
        if ip is None or geo is None:
            assert prof is not None
            day_t = t % DAY
            weekday = (START + timedelta(seconds=t)).weekday() < 5
            on_campus = weekday and 8 * HOUR <= day_t < 18 * HOUR and rng.random() < 0.75
            if on_campus:
                ip = ip or f"198.51.100.{rng.randint(10, 60)}"
                geo = geo or {"lat": CAMPUS[0], "lon": CAMPUS[1], "country": "GB"}
            else:
                ip = ip or prof.home_ip
                geo = geo or dict(prof.home_geo)
        data: dict[str, Any] = {"account_id": aid}
        if pid:
            data["person_id"] = pid
        data.update({"device_id": device, "device_managed": managed, "mfa": mfa, "ip": ip, "geo": geo})
        self.emit(t, SIGNIN, "login.succeeded", data, aid)

    def failed(
        self, aid: str, pid: str | None, t: int, ip: str, reason: str = "invalid_password", device: str | None = None
    ) -> None:
        data: dict[str, Any] = {"account_id": aid}
        if pid:
            data["person_id"] = pid
        if device:
            data["device_id"] = device
        data.update({"ip": ip, "reason": reason})
        self.emit(t, SIGNIN, "login.failed", data, aid)

    def post(self, aid: str, pid: str | None, t: int, *, force: bool = False) -> None:
        """A post; not while the account is blacked out or, for other than central accounts, during an
        incident, unless `force` (the story needs it)."""
        if not force and self._quiet(aid, t, bool(self.accounts.get(aid, {}).get("central"))):
            return
        data: dict[str, Any] = {"account_id": aid}
        if pid:
            data["person_id"] = pid
        self.emit(t, self.platform_source(aid), "post.published", data, aid)

    def register(self, type_: str, t: int, data: dict[str, Any], subject: str | None = None) -> None:
        self.emit(t, REGISTER, type_, data, subject or data.get("account_id"))

    def at(self, day: int, hour: int, minute: int = 0, second: int = 0) -> int:
        return day * DAY + hour * HOUR + minute * MIN + second

    def jitter(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    # ----- choosing the cast --------------------------------------------------------------------

    def free_accounts(self, pred: Any = None) -> list[str]:
        return [a for a in self.order if a not in self.used_accounts and (pred is None or pred(self.accounts[a]))]

    def take_account(self, pred: Any = None) -> str:
        options = self.free_accounts(pred) or self.free_accounts()
        aid = self.rng.choice(options)
        self.used_accounts.add(aid)
        return aid

    def take_person(self, pred: Any) -> str:
        """A person (not comms, not yet in a story) whose accounts are all still free; claims them."""
        options = [
            p
            for p in sorted(self.people)
            if p not in self.used_people
            and p not in self.comms_team
            and self.accounts_of(p)
            and not any(a in self.used_accounts for a in self.accounts_of(p))
            and pred(p)
        ]
        if not options:
            options = [p for p in sorted(self.people) if p not in self.used_people and self.accounts_of(p)]
        pid = self.rng.choice(options)
        self.used_people.add(pid)
        self.used_accounts.update(self.accounts_of(pid))
        return pid

    def colleague(self, pid: str, exclude: set[str]) -> str:
        """Somebody from the same unit, not in a story and not in `exclude`."""
        unit = self.people.get(pid, {}).get("unit") or ""
        busy = exclude | self.used_people | {pid}
        pool = [p for p in self.unit_people.get(unit, []) if p not in busy]
        if not pool:
            pool = [
                p
                for p in sorted(self.people)
                if p != pid and p not in exclude and p not in self.used_people and p not in self.comms_team
            ]
        choice = self.rng.choice(pool)
        self.used_people.add(choice)
        return choice

    # ----- the month ----------------------------------------------------------------------------

    def build(self) -> list[dict[str, Any]]:
        self.stories()
        self.routine()
        self.routine_rotations()
        return self.finish()

    def stories(self) -> None:
        """Every story in the month; each claims its accounts and people so stories do not collide."""
        self.story_hijack()
        self.story_guessing()
        self.story_fatigue()
        self.story_incident()
        self.story_leavers()
        self.story_movers()
        self.story_unassigned_admin()
        self.story_new_account()
        self.story_retired_account()
        self.story_unregistered_account()
        self.story_sharing()
        self.story_takeovers()
        self.story_fingerprint_reuse()
        self.story_devices()
        self.story_travel()
        self.story_emergency_outsider()
        for aid in self.free_accounts(lambda a: not a.get("central"))[-3:]:
            self.dormant.add(aid)  # accounts nobody has used for months
            self.used_accounts.add(aid)

    def story_hijack(self) -> None:
        """Overnight hijack: guessing, a foreign sign-in by an outsider, MFA off, password changed, spam;
        then a comms-team report and emergency request; the admins rotate after the grant expires."""
        aid = self.take_account(
            lambda a: (
                a["credential_model"] == "named_logins"
                and a["mfa_enabled"]
                and not a["central"]
                and a.get("manager")
                and len(a["admins"]) >= 2
            )
        )
        day = 16
        attacker, ip = "ext-4471", "203.0.113.77"
        geo = {"lat": 55.7558, "lon": 37.6173, "country": "RU"}
        t = self.at(day, 1, 52)
        for i in range(7):
            self.failed(aid, None, t + i * 95, ip)
        t = self.at(day, 2, 9)
        self.signin(aid, attacker, t, device="dev-ext-0a71", managed=False, mfa=False, ip=ip, geo=geo, approve=False)
        self.emit(
            t + 4 * MIN, self.platform_source(aid), "mfa.disabled", {"account_id": aid, "actor_id": attacker}, aid
        )
        self.rotate(aid, attacker, t + 7 * MIN)
        for k in range(3):
            self.post(aid, attacker, t + 12 * MIN + k * 11 * MIN, force=True)
        reporter, requester = self.comms_team[2 % len(self.comms_team)], self.comms_team[3 % len(self.comms_team)]
        self.emit(
            self.at(day, 7, 48),
            INCIDENTS,
            "account.compromise_reported",
            {
                "account_id": aid,
                "reporter_id": reporter,
                "detail": "Crypto giveaway posts overnight; the admins cannot sign in",
            },
            aid,
        )
        self.emit(
            self.at(day, 7, 55),
            EMERGENCY,
            "emergency.access_requested",
            {
                "account_id": aid,
                "requester_id": requester,
                "reason": "Account hijacked overnight; out-of-hours access to remove the posts and lock it down",
                "minutes": 240,
            },
            aid,
        )
        admin = self.accounts[aid]["admins"][0]
        self.rotate(aid, admin, self.at(day, 12, 10))
        self.emit(
            self.at(day, 12, 13), self.platform_source(aid), "mfa.enabled", {"account_id": aid, "actor_id": admin}, aid
        )
        self.blackout.setdefault(aid, []).append((self.at(day, 0), self.at(day, 12, 30)))
        self.no_rotation[aid] = self.at(day - 1, 0)

    def story_guessing(self) -> None:
        """Password guessing against a shared credential without MFA, then a success from the same address."""
        aid = self.take_account(
            lambda a: a["credential_model"] == "shared_credential" and not a["mfa_enabled"] and not a["central"]
        )
        day, ip = 7, "203.0.113.45"
        t = self.at(day, 3, 10)
        for i in range(9):
            self.failed(aid, None, t + i * 70 + self.jitter(0, 20), ip)
        self.signin(
            aid,
            None,
            self.at(day, 3, 22),
            device="dev-unknown-5c2e",
            managed=False,
            mfa=False,
            ip=ip,
            geo={"lat": 10.8231, "lon": 106.6297, "country": "VN"},
            approve=False,
        )
        self.rotate(aid, self.admin_actor(aid, self.at(day, 9)), self.at(day, 9, 41))
        self.no_rotation[aid] = self.at(day - 1, 0)

    def story_fatigue(self) -> None:
        """Push bombing: seven denied or ignored MFA prompts late in the evening; the admin rotates next day."""
        aid = self.take_account(lambda a: a["mfa_enabled"] and not a["central"] and len(a["admins"]) >= 1)
        pid = self.accounts[aid]["admins"][0]
        day = 25
        t = self.at(day, 22, 40)
        for i, result in enumerate(("denied", "timeout", "denied", "denied", "timeout", "denied", "denied")):
            self.emit(
                t + i * 75 + self.jitter(0, 15),
                SIGNIN,
                "mfa.challenge",
                {"account_id": aid, "person_id": pid, "result": result},
                aid,
            )
        self.rotate(aid, pid, self.at(day + 1, 8, 55))
        self.no_rotation[aid] = self.at(day - 1, 0)

    def story_incident(self) -> None:
        """Storm closes the campus: incident declared, central accounts post updates, one school posts too."""
        day = 11
        declared, closed = self.at(day, 7, 30), self.at(day, 18, 0)
        self.emit(declared, INCIDENTS, "incident.declared", {"incident_id": "inc-2026-10-storm"})
        self.emit(closed, INCIDENTS, "incident.closed", {"incident_id": "inc-2026-10-storm"})
        self.post_blackout.append((declared, closed))
        centrals = [a for a in self.order if self.accounts[a].get("central")]
        for aid in centrals:
            for h in (8, 10, 13, 16):
                team = self.holders(aid, declared)
                self.post(aid, self.rng.choice(team) if team else None, self.at(day, h, self.jitter(0, 20)))
        aid = self.take_account(lambda a: not a["central"] and a["platform"] in ("x", "instagram"))
        pid = self.accounts[aid]["admins"][0]
        self.signin(aid, pid, self.at(day, 11, 12))
        self.post(aid, pid, self.at(day, 11, 20), force=True)

    def story_leavers(self) -> None:
        """Three leavers handled well, one not at all (who signs in after leaving), one late,
        one future leaver not replaced, one notice withdrawn."""
        rng = self.rng
        is_admin = lambda p: bool(self.accounts_of(p, ("admin",)))  # noqa: E731

        def easy(p: str) -> bool:  # on one to three accounts, each with a manager and another admin
            accs = self.accounts_of(p)
            return (
                is_admin(p)
                and 1 <= len(accs) <= 3
                and all(len(self.accounts[a]["admins"]) >= 2 and self.accounts[a].get("manager") for a in accs)
            )

        for n, (notice, leave) in enumerate(((2, 7), (9, 16), (17, 23))):
            pid = self.take_person(easy)
            leaving = self.at(leave, 17)
            self.emit(
                self.at(notice + 1, 9, self.jitter(0, 50)),
                HR,
                "hr.leaver",
                {"person_id": pid, "leaving_at": _iso(leaving), "reason": "resignation"},
                pid,
            )
            accounts = self.accounts_of(pid)
            taken = {s.person_id for a in accounts for s in self.seats[a]}
            if n == 0:  # a new starter takes over
                new = f"p-{self.next_person:04d}"
                self.next_person += 1
                unit = self.people[pid].get("unit")
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                person = {"person_id": new, "email": f"{first}.{last}.{new[2:]}@{DOMAIN}".lower(), "groups": []}
                if unit:
                    person["unit"] = unit
                self.people[new] = person
                self.register("directory.person", self.at(notice - 1, 8, 30), person, new)
                replacement = new
                self.used_people.add(new)
            else:
                replacement = self.colleague(pid, taken)
            t = self.at(notice, 10, self.jitter(0, 40))  # the manager arranges the handover before HR records it
            for aid in accounts:
                role = next(s.role for s in self.seats[aid] if s.person_id == pid)
                mgr = self.admin_actor(aid, t, (pid,))
                self.register(
                    "directory.admin_assigned", t, {"account_id": aid, "person_id": replacement, "role": role}
                )
                if role != "editor":
                    self.emit(
                        t + 5 * MIN,
                        self.platform_source(aid),
                        "platform.admin_added",
                        {"account_id": aid, "actor_id": mgr, "person_id": replacement},
                        aid,
                    )
                self.add_seat(aid, replacement, role, t + 30 * MIN)
                self.end_seat(aid, pid, leaving - self.jitter(1, 4) * HOUR)
                done = leaving + self.jitter(30 * MIN, 15 * HOUR)
                if role != "editor" or self.accounts[aid]["credential_model"] == "named_logins":
                    self.emit(
                        done,
                        self.platform_source(aid),
                        "platform.admin_removed",
                        {"account_id": aid, "actor_id": mgr, "person_id": pid},
                        aid,
                    )
                self.rotate(aid, mgr, done + self.jitter(2 * MIN, 40 * MIN))
                self.register("directory.admin_unassigned", done + HOUR, {"account_id": aid, "person_id": pid})
                t += 20 * MIN

        # nothing done, and signs in two days after leaving
        pid = self.take_person(lambda p: is_admin(p) and len(self.accounts_of(p)) <= 2)
        leaving = self.at(12, 17)
        self.emit(
            self.at(8, 11, 5),
            HR,
            "hr.leaver",
            {"person_id": pid, "leaving_at": _iso(leaving), "reason": "end of fixed-term contract"},
            pid,
        )
        for aid in self.accounts_of(pid):
            self.end_seat(aid, pid, leaving - 3 * HOUR)
            self.no_rotation[aid] = leaving - DAY
        aid = self.accounts_of(pid)[0]
        self.signin(aid, pid, self.at(14, 20, 47))
        self.post(aid, pid, self.at(14, 20, 58))

        # late: seat removed after three days, the credential a day after that
        pid = self.take_person(lambda p: is_admin(p) and len(self.accounts_of(p)) <= 2)
        leaving = self.at(5, 17)
        self.emit(self.at(1, 14, 20), HR, "hr.leaver", {"person_id": pid, "leaving_at": _iso(leaving)}, pid)
        for aid in self.accounts_of(pid):
            self.end_seat(aid, pid, leaving - 2 * HOUR)
            mgr = self.admin_actor(aid, leaving, (pid,))
            self.emit(
                self.at(8, 11, self.jitter(0, 50)),
                self.platform_source(aid),
                "platform.admin_removed",
                {"account_id": aid, "actor_id": mgr, "person_id": pid},
                aid,
            )
            self.rotate(aid, mgr, self.at(9, 14, self.jitter(0, 50)))
            self.no_rotation[aid] = leaving - DAY

        # future leaver, one of exactly two admins, nobody replaces them
        pid = self.take_person(
            lambda p: any(len(self.accounts[a]["admins"]) == 2 for a in self.accounts_of(p, ("admin",)))
        )
        self.emit(
            self.at(min(23, self.days - 2), 10, 15),
            HR,
            "hr.leaver",
            {"person_id": pid, "leaving_at": _iso(self.at(self.days + 6, 17)), "reason": "retirement"},
            pid,
        )

        # notice withdrawn
        pid = self.take_person(is_admin)
        self.emit(self.at(4, 9, 40), HR, "hr.leaver", {"person_id": pid, "leaving_at": _iso(self.at(18, 17))}, pid)
        self.emit(self.at(10, 15, 5), HR, "hr.leaver_cancelled", {"person_id": pid}, pid)

    def story_movers(self) -> None:
        """Three movers: one keeps access on purpose, one is cleaned up, one is forgotten."""
        is_admin = lambda p: bool(self.accounts_of(p, ("admin",)))  # noqa: E731
        roles = (
            ("Research Impact Officer", "Research Office"),
            ("Timetabling Officer", "Registry"),
            ("Project Manager", "IT Services"),
        )
        for n, day in enumerate((6, 13, 19)):
            pid = self.take_person(is_admin)
            effective = self.at(day, 9)
            new_role, new_unit = roles[n]
            self.emit(
                self.at(day - 3, 12, self.jitter(0, 40)),
                HR,
                "hr.role_changed",
                {"person_id": pid, "effective_at": _iso(effective), "new_role": new_role, "new_unit": new_unit},
                pid,
            )
            for aid in self.accounts_of(pid):
                if n == 0:  # still the account's editor-in-chief in the new role
                    self.register(
                        "directory.access_confirmed",
                        effective + self.jitter(2 * HOUR, 6 * HOUR),
                        {"account_id": aid, "person_id": pid},
                    )
                elif n == 1:
                    self.end_seat(aid, pid, effective)
                    mgr = self.admin_actor(aid, effective, (pid,))
                    done = effective + self.jitter(HOUR, 7 * HOUR)
                    self.emit(
                        done,
                        self.platform_source(aid),
                        "platform.admin_removed",
                        {"account_id": aid, "actor_id": mgr, "person_id": pid},
                        aid,
                    )
                    self.rotate(aid, mgr, done + 10 * MIN)
                    self.register("directory.admin_unassigned", done + 20 * MIN, {"account_id": aid, "person_id": pid})
                else:
                    self.end_seat(aid, pid, effective)
                    self.no_rotation[aid] = effective - DAY

    def story_unassigned_admin(self) -> None:
        """An admin is taken off an account in the register, leaving one admin."""
        aid = self.take_account(
            lambda a: len(a["admins"]) == 2 and not a["central"] and not any(p in self.comms_team for p in a["admins"])
        )
        pid = self.accounts[aid]["admins"][1]
        t = self.at(8, 15, 20)
        self.register("directory.admin_unassigned", t, {"account_id": aid, "person_id": pid})
        self.emit(
            t + 40 * MIN,
            self.platform_source(aid),
            "platform.admin_removed",
            {"account_id": aid, "actor_id": self.admin_actor(aid, t, (pid,)), "person_id": pid},
            aid,
        )
        self.end_seat(aid, pid, t)

    def story_new_account(self) -> None:
        """Careers opens a TikTok account mid-month, registered properly before first use."""
        unit = _UNIT_BY_NAME.get("Careers Service")
        careers = [a for a in self.order if self.accounts[a]["registration_email"] == f"social.careers@{DOMAIN}"]
        base = careers[0] if careers else self.order[-1]
        taken_platforms = {self.accounts[a]["platform"] for a in careers}
        platform = next((p for p in ("tiktok", "youtube", "linkedin") if p not in taken_platforms), "tiktok")
        aid = f"acc-{self.next_account:03d}"
        self.next_account += 1
        template = self.accounts[base]
        admins = [p for p in template.get("admins", []) if p not in self.used_people][:2]
        while len(admins) < 2:
            admins.append(self.colleague(admins[0] if admins else template["admins"][0], set(admins)))
        manager = template.get("manager")
        if manager in self.used_people:
            manager = None
        stem = unit.stem if unit and unit.stem else "Careers"
        reg = {
            "account_id": aid,
            "platform": platform,
            "handle": f"{HANDLE_PREFIX}{stem}",
            "registration_email": f"social.{unit.key if unit else 'careers'}@{DOMAIN}",
            "credential_model": "named_logins",
            "mfa_enabled": True,
            "central": False,
            "approved_by": self.comms_team[0] if self.comms_team else "p-0001",
            "emergency_access": "backup_admin",
        }
        t = self.at(13, 10, 5)
        self.register("directory.account_registered", t, reg)
        self.accounts[aid] = {**reg, "admins": admins, "manager": manager}
        self.order.append(aid)
        self.seats[aid] = []
        self.used_accounts.add(aid)
        self.activity[aid] = 0.8
        for i, pid in enumerate(admins):
            self.register(
                "directory.admin_assigned", t + (i + 2) * MIN, {"account_id": aid, "person_id": pid, "role": "admin"}
            )
            self.add_seat(aid, pid, "admin", t + HOUR)
        if manager:
            self.register(
                "directory.admin_assigned", t + 5 * MIN, {"account_id": aid, "person_id": manager, "role": "manager"}
            )
            self.add_seat(aid, manager, "manager", t + HOUR)
        self.span[aid] = (t + HOUR, self.end)

    def story_retired_account(self) -> None:
        """A quiet account is closed and retired from the register."""
        aid = self.take_account(lambda a: not a["central"] and a["platform"] in ("facebook", "youtube"))
        t = self.at(19, 15, 0)
        self.register("directory.account_retired", t, {"account_id": aid})
        self.span[aid] = (0, t - 2 * HOUR)
        self.no_rotation[aid] = t - 2 * HOUR

    def story_unregistered_account(self) -> None:
        """A sports coach runs a TikTok nobody registered: it shows up in the sign-in feed."""
        aid = f"acc-{self.next_account + 8:03d}"
        sport = [p for p in self.unit_people.get("Aberwen Sport", []) if p not in self.used_people]
        pid = sport[0] if sport else sorted(self.people)[-1]
        self.used_people.add(pid)
        self.accounts[aid] = {"account_id": aid, "platform": "tiktok", "handle": "AberSportsClubs"}
        for day in (15, 20, 27):
            t = self.at(day, 17, self.jitter(0, 50))
            self.signin(aid, pid, t, device=self.profile(pid).laptop, mfa=False, approve=False)
            self.post(aid, pid, t + self.jitter(5 * MIN, 40 * MIN))

    def story_sharing(self) -> None:
        """The password of shared-credential accounts handed on: to a colleague, to an outside agency."""
        aid = self.take_account(lambda a: a["credential_model"] == "shared_credential" and a.get("manager"))
        mgr = self.accounts[aid]["manager"]
        colleague = self.colleague(mgr, {s.person_id for s in self.seats[aid]})
        self.emit(
            self.at(3, 11, 25),
            VAULT,
            "credential.shared",
            {"account_id": aid, "actor_id": mgr, "recipient_id": colleague},
            aid,
        )
        for day in (3, 4, 6):
            self.signin(aid, colleague, self.at(day, 14, self.jitter(0, 50)))
        aid2 = self.take_account(lambda a: a["credential_model"] == "shared_credential" and a.get("manager"))
        mgr2 = self.accounts[aid2]["manager"]
        self.emit(
            self.at(12, 16, 2),
            VAULT,
            "credential.shared",
            {"account_id": aid2, "actor_id": mgr2, "recipient_id": "ext-agency-0007"},
            aid2,
        )
        self.signin(
            aid2,
            "ext-agency-0007",
            self.at(13, 10, 31),
            device="BRIGHTSIDE-MBP-07",
            managed=False,
            ip="203.0.113.150",
            geo={"lat": 51.4816, "lon": -3.1791, "country": "GB"},
            approve=False,
        )
        admins = self.accounts[aid]["admins"]
        self.emit(
            self.at(20, 9, 12),
            VAULT,
            "credential.shared",
            {"account_id": aid, "actor_id": mgr, "recipient_id": admins[-1]},
            aid,
        )

    def story_takeovers(self) -> None:
        """Two takeovers for annual leave: one rotated back afterwards, one never."""
        for n, (day, until) in enumerate(((5, 12), (17, 21))):
            aid = self.take_account(lambda a: a["credential_model"] == "shared_credential" and a.get("manager"))
            mgr = self.accounts[aid]["manager"]
            cover = self.comms_team[(4 + n) % len(self.comms_team)]
            ends = self.at(until, 9)
            self.emit(
                self.at(day, 9, self.jitter(0, 30)),
                VAULT,
                "credential.temporary_access",
                {"account_id": aid, "actor_id": mgr, "recipient_id": cover, "ends_at": _iso(ends)},
                aid,
            )
            for d in range(day, until):
                if (START + timedelta(days=d)).weekday() < 5:
                    self.signin(aid, cover, self.at(d, 10, self.jitter(0, 59)))
                    self.post(aid, cover, self.at(d, 11, self.jitter(0, 59)))
            if n == 0:
                self.rotate(aid, mgr, ends + self.jitter(HOUR, 3 * HOUR))
                self.no_rotation[aid] = self.at(day - 1, 0)
            else:
                self.no_rotation[aid] = self.at(day - 1, 0)

    def story_fingerprint_reuse(self) -> None:
        """One manager sets the same new password on two accounts a week apart."""
        pairs = [
            (a, b)
            for a in self.free_accounts()
            for b in self.free_accounts()
            if a < b
            and self.accounts[a].get("manager")
            and self.accounts[a].get("manager") == self.accounts[b].get("manager")
            and self.accounts[a]["credential_model"] == "shared_credential"
        ]
        if not pairs:
            return
        a, b = self.rng.choice(pairs)
        self.used_accounts.update((a, b))
        mgr = self.accounts[a]["manager"]
        fp = _fingerprint(self.rng)
        self.rotate(a, mgr, self.at(9, 10, 14), fp)
        self.rotate(b, mgr, self.at(15, 16, 40), fp)
        self.no_rotation[a] = self.no_rotation[b] = 0

    def story_devices(self) -> None:
        """A few people use their own phone now and then; two sign in from a new laptop nobody approved."""
        candidates = [
            p
            for p in sorted(self.people)
            if p not in self.used_people and p not in self.comms_team and self.accounts_of(p, ("admin",))
        ]
        byod = self.rng.sample(candidates, 4)
        for pid in byod:
            self.profile(pid).byod = f"BYOD-{pid[2:]}-phone"
            self.used_people.add(pid)
        rest = [p for p in candidates if p not in byod]
        for pid, day in zip(self.rng.sample(rest, 2), (10, 22), strict=True):
            self.used_people.add(pid)
            aid = self.accounts_of(pid, ("admin",))[0]
            self.signin(aid, pid, self.at(day, 9, self.jitter(5, 55)), device=f"AWN-LT-{pid[2:]}-NEW", approve=False)

    def story_travel(self) -> None:
        """A sign-in from campus, then one from New York forty minutes later (a VPN exit, or worse)."""
        candidates = [
            p
            for p in sorted(self.people)
            if p not in self.used_people and p not in self.comms_team and self.accounts_of(p, ("admin",))
        ]
        pid = self.rng.choice(candidates)
        self.used_people.add(pid)
        aid = self.accounts_of(pid, ("admin",))[0]
        self.signin(
            aid, pid, self.at(9, 10, 2), ip="198.51.100.23", geo={"lat": CAMPUS[0], "lon": CAMPUS[1], "country": "GB"}
        )
        self.signin(
            aid, pid, self.at(9, 10, 44), ip="203.0.113.201", geo={"lat": 40.7128, "lon": -74.006, "country": "US"}
        )

    def story_emergency_outsider(self) -> None:
        """An emergency request from somebody outside the comms team (refused by policy)."""
        aid = self.take_account(lambda a: not a["central"])
        pid = self.accounts[aid]["admins"][0]
        self.emit(
            self.at(21, 21, 34),
            EMERGENCY,
            "emergency.access_requested",
            {
                "account_id": aid,
                "requester_id": pid,
                "reason": "Locked out before tomorrow's open day campaign",
                "minutes": 120,
            },
            aid,
        )

    # ----- the routine ----------------------------------------------------------------------------

    def routine(self) -> None:
        """Daily sign-ins and posts by everyone with a seat, around the stories."""
        rng = self.rng
        base = {"admin": 0.85, "manager": 0.3, "editor": 0.5}
        for day in range(self.days):
            weekday = (START + timedelta(days=day)).weekday() < 5
            for aid in self.order:
                if aid in self.dormant or aid not in self.seats:
                    continue
                acc = self.accounts[aid]
                central = bool(acc.get("central"))
                level = self.activity.get(aid, 0.5)
                lo, hi = self.span[aid]
                for seat in self.seats[aid]:
                    p = base[seat.role] * seat.weight * level * (1.0 if weekday else 0.15)
                    if rng.random() >= p:
                        continue
                    sessions = 1 + (rng.random() < 0.85) + (rng.random() < level * 0.8)
                    sessions += central and rng.random() < 0.7
                    day0 = day * DAY
                    if weekday:
                        times = sorted(day0 + rng.randint(8 * HOUR, 18 * HOUR + 30 * MIN) for _ in range(sessions))
                    else:
                        times = sorted(day0 + rng.randint(9 * HOUR, 21 * HOUR) for _ in range(sessions))
                    for t in times:
                        if not (seat.start <= t < seat.end and lo <= t < hi) or self._blacked_out(aid, t):
                            continue
                        self.routine_signin(aid, seat.person_id, t, acc)
                        for _ in range(rng.choice((0, 1, 1, 2, 2, 3) if central else (0, 0, 1, 1, 2))):
                            tp = t + rng.randint(3 * MIN, 150 * MIN)
                            if tp < hi and tp < seat.end:
                                self.post(aid, seat.person_id, tp)
                if central and lo <= day * DAY:  # scheduled posts from the publishing tool
                    for _ in range(rng.randint(1, 3)):
                        tp = day * DAY + rng.randint(7 * HOUR, 20 * HOUR)
                        self.post(aid, None, tp)

    def _blacked_out(self, aid: str, t: int) -> bool:
        return any(s <= t < e for s, e in self.blackout.get(aid, ()))

    def _quiet(self, aid: str, t: int, central: bool) -> bool:
        return self._blacked_out(aid, t) or (not central and any(s <= t < e for s, e in self.post_blackout))

    def routine_signin(self, aid: str, pid: str, t: int, acc: dict[str, Any]) -> None:
        rng = self.rng
        prof = self.profile(pid)
        device, managed = prof.laptop, True
        if prof.byod and rng.random() < 0.12:
            device, managed = prof.byod, False
        elif prof.phone and rng.random() < 0.2:
            device = prof.phone
        mfa = self.mfa_on(aid)
        if mfa and rng.random() < 0.0012:  # an old app password that skips MFA
            mfa = False
        if rng.random() < 0.025:  # a typo first
            self.failed(
                aid,
                pid,
                t - rng.randint(30, 90),
                prof.home_ip if t % DAY > 18 * HOUR else "198.51.100.40",
                device=device,
            )
        who: str | None = pid
        if acc.get("credential_model") == "shared_credential" and rng.random() < 0.04:
            who = None  # the platform cannot tell who used the shared login
            self.ensure_approved(aid, pid, device, t)
        self.signin(
            aid,
            who,
            t,
            device=device,
            managed=managed,
            mfa=mfa,
            ip=None if who else "198.51.100.41",
            geo=None if who else {"lat": CAMPUS[0], "lon": CAMPUS[1], "country": "GB"},
        )

    def routine_rotations(self) -> None:
        """Shared credentials are rotated about monthly, named logins now and then."""
        rng = self.rng
        for aid in self.order:
            acc = self.accounts[aid]
            if aid in self.dormant or "credential_model" not in acc:
                continue
            p = 0.9 if acc["credential_model"] == "shared_credential" else 0.25
            if rng.random() >= p:
                continue
            lo, hi = self.span[aid]
            day = rng.randint(0, self.days - 1)
            t = self.at(day, rng.randint(8, 17), rng.randint(0, 59))
            if not (lo <= t < hi) or t >= self.no_rotation.get(aid, self.end):
                continue
            self.rotate(aid, self.admin_actor(aid, t), t)

    # ----- output ---------------------------------------------------------------------------------

    def finish(self) -> list[dict[str, Any]]:
        raw = sorted((r for r in self.raw if 0 <= r[0] < self.end), key=lambda r: (r[0], r[1]))
        counters: dict[str, int] = {}
        out: list[tuple[int, str, dict[str, Any]]] = []
        for t, _, source, type_, data, subject in raw:
            n = counters[source] = counters.get(source, 0) + 1
            prefix = _ID_PREFIX.get(source) or source.replace("platform/", "").replace("-audit", "")
            eid = f"{prefix}-{n:06d}"
            ev: dict[str, Any] = {"specversion": "1.0", "id": eid, "source": source, "type": type_, "time": _iso(t)}
            if subject:
                ev["subject"] = subject
            ev["data"] = data
            out.append((t, eid, ev))
        out.sort(key=lambda x: (x[0], x[1]))
        return [ev for _, _, ev in out]


def build_events(directory: dict[str, Any], seed: int = 7, days: int = 30) -> list[dict[str, Any]]:
    """A month (or `days` days) of events against the register, sorted by time then id.

    The stories are placed for a 30-day month; with fewer days, whatever falls after the end is dropped.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    return _Month(directory, seed, days).build()


def write_demo(out_dir: Path, seed: int = 7, days: int = 30) -> tuple[Path, Path]:
    """Write directory.yaml and events.jsonl into out_dir; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    directory = build_directory(seed)
    events = build_events(directory, seed, days)
    dpath, epath = out_dir / "directory.yaml", out_dir / "events.jsonl"
    dpath.write_text(dump_yaml(directory), encoding="utf-8")
    with epath.open("w", encoding="utf-8", newline="\n") as fh:
        for ev in events:
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
    return dpath, epath


# ----- synthetic load ---------------------------------------------------------------------------------


def mix_directory(accounts: int = 1000, people: int = 3000, seed: int = 11) -> dict[str, Any]:
    """A large, tidy register for load tests: every account with two admins and a manager."""
    if accounts < 1 or people < 3:
        raise ValueError("need at least one account and three people")
    rng = Random(seed)
    staff = [
        {"person_id": f"p-{i:05d}", "email": f"staff{i:05d}@{DOMAIN}", "groups": ["comms-team"] if i <= 8 else []}
        for i in range(1, people + 1)
    ]
    accs = []
    team = min(8, people)
    for i in range(1, accounts + 1):
        central = i <= 6
        if central:  # run by the comms team, who are also the emergency route for the rest (escrow)
            a, b = rng.sample(range(2, team + 1), 2) if team >= 3 else (1, 2)
            m = 1
        else:
            a, b, m = rng.sample(range(1, people + 1), 3)
        accs.append(
            {
                "account_id": f"acc-{i:04d}",
                "platform": PLATFORMS[i % len(PLATFORMS)],
                "handle": f"{HANDLE_PREFIX}Unit{i:04d}",
                "registration_email": f"social.unit{i:04d}@{DOMAIN}",
                "credential_model": "shared_credential" if rng.random() < 0.3 else "named_logins",
                "mfa_enabled": True,
                "central": central,
                "approved_by": "p-00001",
                "emergency_access": "backup_admin" if central else "escrow",
                "admins": [f"p-{a:05d}", f"p-{b:05d}"],
                "manager": f"p-{m:05d}",
            }
        )
    return {
        "organisation": {"domains": [DOMAIN], "handle_prefix": HANDLE_PREFIX},
        "people": staff,
        "accounts": accs,
    }


def padded_mix_directory(accounts: int = 1000, people: int = 3000, factor: int = 10, seed: int = 11) -> dict[str, Any]:
    """`mix_directory(accounts, people, seed)` with (factor - 1) times as many accounts and people again that
    `mix_lines(n, seed, accounts, people)` never names: a bigger register under the same events.

    The extra accounts are run by the extra people only (ids `acc-x…`, `p-x…`), so no event of the mix reaches
    them, and only the register's size differs (bench/README, "Growth").
    """
    if factor < 1:
        raise ValueError("factor must be at least 1")
    base = mix_directory(accounts, people, seed)
    if factor == 1:
        return base
    extra = mix_directory(accounts * (factor - 1), people * (factor - 1), seed + 1)
    renamed = {p["person_id"]: "p-x" + p["person_id"][2:] for p in extra["people"]}
    for p in extra["people"]:
        p["person_id"] = renamed[p["person_id"]]
        p["email"] = "x" + p["email"]
        p["groups"] = []
    for a in extra["accounts"]:
        a["account_id"] = "acc-x" + a["account_id"][4:]
        a["handle"] += "X"
        a["registration_email"] = "x" + a["registration_email"]
        a["admins"] = [renamed[x] for x in a["admins"]]
        a["manager"] = renamed[a["manager"]]
        a["approved_by"] = renamed["p-00001"]
        a["central"], a["emergency_access"] = False, "escrow"
    base["people"] += extra["people"]
    base["accounts"] += extra["accounts"]
    return base


def mix_lines(n: int, seed: int = 11, accounts: int = 1000, people: int = 3000) -> Iterator[bytes]:
    """n events as compact JSON lines (no newline) over `mix_directory(accounts, people, seed)`.

    90% sign-in signals (login.succeeded, login.failed, mfa.challenge), 10% posts, rotations, device
    approvals, admin changes and the odd leaver; event time increases by about 50 ms an event. A generator:
    memory depends on the directory size, never on n.
    """
    directory = mix_directory(accounts, people, seed)
    roles = [(a["account_id"], a["admins"], a["manager"]) for a in directory["accounts"]]
    del directory
    rng = Random(seed * 31 + 5)
    start_ms = 0
    counters = {"okta/signin": 0, "vault/audit": 0, "okta/device-trust": 0, "hr/people-system": 0}
    prefix = {"okta/signin": "si", "vault/audit": "va", "okta/device-trust": "dt", "hr/people-system": "hr"}
    cached_sec, cached_str = -1, ""
    dumps = json.dumps
    random = rng.random
    for _ in range(n):
        start_ms += int(rng.expovariate(20.0) * 1000)
        sec, ms = divmod(start_ms, 1000)
        if sec != cached_sec:
            cached_sec, cached_str = sec, _iso(sec)[:-1]
        time = f"{cached_str}.{ms:03d}Z"
        aid, admins, manager = roles[int(random() * len(roles))]
        pid = admins[0] if random() < 0.5 else admins[1] if random() < 0.8 else manager
        pnum = int(pid[2:])
        r = random()
        data: dict[str, Any]
        if r < 0.70:
            source, type_ = "okta/signin", "login.succeeded"
            data = {
                "account_id": aid,
                "person_id": pid,
                "device_id": f"AWN-LT-{pnum:05d}",
                "device_managed": True,
                "mfa": random() < 0.995,
                "ip": f"198.51.100.{pnum % 250 + 1}",
            }
            if random() < 0.5:
                data["geo"] = {
                    "lat": round(CAMPUS[0] + (pnum % 97) / 1000, 4),
                    "lon": round(CAMPUS[1] - (pnum % 89) / 1000, 4),
                    "country": "GB",
                }
        elif r < 0.78:
            source, type_ = "okta/signin", "login.failed"
            data = {
                "account_id": aid,
                "person_id": pid,
                "ip": f"198.51.100.{pnum % 250 + 1}",
                "reason": "invalid_password",
            }
        elif r < 0.90:
            source, type_ = "okta/signin", "mfa.challenge"
            q = random()
            data = {
                "account_id": aid,
                "person_id": pid,
                "result": "approved" if q < 0.92 else "timeout" if q < 0.97 else "denied",
            }
        elif r < 0.962:
            source, type_ = f"platform/{PLATFORMS[int(aid[4:]) % len(PLATFORMS)]}-audit", "post.published"
            data = {"account_id": aid, "person_id": pid}
        elif r < 0.977:
            source, type_ = "vault/audit", "credential.rotated"
            data = {"account_id": aid, "actor_id": manager, "fingerprint": f"fp-{rng.getrandbits(64):016x}"}
        elif r < 0.992:
            source, type_ = "okta/device-trust", "device.approved"
            data = {"account_id": aid, "actor_id": manager, "person_id": pid, "device_id": f"AWN-LT-{pnum:05d}"}
        elif r < 0.9998:
            source = f"platform/{PLATFORMS[int(aid[4:]) % len(PLATFORMS)]}-audit"
            type_ = "platform.admin_added" if random() < 0.5 else "platform.admin_removed"
            data = {"account_id": aid, "actor_id": manager, "person_id": pid}
        else:
            source, type_ = "hr/people-system", "hr.leaver"
            leaving = sec + rng.randint(7, 30) * DAY
            data = {"person_id": pid, "leaving_at": _iso(leaving)}
        k = counters.get(source, 0) + 1
        counters[source] = k
        eid = f"{prefix.get(source) or source[9:-6]}-{k}"
        yield dumps(
            {"specversion": "1.0", "id": eid, "source": source, "type": type_, "time": time, "data": data},
            separators=(",", ":"),
        ).encode()
