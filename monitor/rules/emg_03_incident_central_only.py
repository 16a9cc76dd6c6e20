"""EMG-03: during a declared institution-wide incident only the central accounts post."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, directory, post, staff
from monitor.rules._hijack import stamp
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(
    account("acc-central", registration_email="news@uni.example.ac.uk", emergency_access="backup_admin"),
    account(
        "acc-dept",
        handle="UniChemistry",
        registration_email="chem@uni.example.ac.uk",
        central=False,
        emergency_access="backup_admin",
    ),
    people=staff("p-1", "p-2"),
)
_DECLARED = ev("incident.declared", "2026-10-01T12:00:00Z", "inc-ev-1", incident_id="inc-1")
_CLOSED = ev("incident.closed", "2026-10-01T18:00:00Z", "inc-ev-2", incident_id="inc-1")


def _post(time: str, id_: str, account_id: str = "acc-dept") -> dict[str, Any]:
    return post(time, id_, account_id=account_id, person_id="p-1")


CASES = [
    Case(
        "a department account posts during the incident: alert",
        "alert",
        (_DECLARED, _post("2026-10-01T13:00:00Z", "po-1")),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case(
        "the central account posts during the incident: no alert",
        "none",
        (_DECLARED, _post("2026-10-01T13:00:00Z", "po-1", "acc-central")),
        _DIR,
    ),
    Case(
        "a department account posts before the incident: no alert",
        "none",
        (_post("2026-10-01T11:59:00Z", "po-1"), _DECLARED),
        _DIR,
    ),
    Case(
        "a department account posts after it closed: no alert",
        "none",
        (_DECLARED, _CLOSED, _post("2026-10-01T18:01:00Z", "po-1")),
        _DIR,
    ),
    Case(
        "several posts during one incident gather on one alert",
        "alert",
        (_DECLARED, _post("2026-10-01T13:00:00Z", "po-1"), _post("2026-10-01T14:00:00Z", "po-2")),
        _DIR,
    ),
]


@rule(
    "EMG-03",
    title="Only central accounts post during an incident",
    severity="medium",
    sources=['001 "Social media in an emergency"'],
    on=("post.published",),
    cases=CASES,
)
def emg_03_incident_central_only(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a non-central account posts during an open incident, since mixed messages mislead in an emergency."""
    incidents = ctx.open_incidents
    if not incidents or ctx.account.central:
        return state, ()
    now = event.time
    a = ctx.account.account_id
    pid = event.data.person_id
    who = f" by {pid}" if pid else ""
    return state, [
        Raise(
            key=incident,
            evidence=(event.id,),
            summary=f"{a}, not a central account, published a post{who} at {stamp(now)} during incident {incident} "
            f"(declared {stamp(declared)})",
            next_step=f"Ask the manager of {a} to stop posting until incident {incident} is closed; if this was not "
            "the single post directing followers to the central account, check it with the comms team",
        )
        for incident, declared in sorted(incidents.items())
        if declared <= now
    ]
