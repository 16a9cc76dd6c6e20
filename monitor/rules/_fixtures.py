"""Builders for the example cases beside the rules: directory entries and the events that recur across them.

Each builder returns fresh plain dicts and lists (what a directory file or a CloudEvent holds), filled with the
defaults most cases share: the account ``acc-1`` is @UniNews on x, registered with social@uni.example.ac.uk, named
logins, MFA on, central, approved by p-9, emergency access by escrow, admins p-1 and p-2, manager p-2; a person
``p-1`` has the email p1@uni.example.ac.uk; events happen on ``acc-1``. A case states only what differs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from monitor.rules.base import ev

Event = dict[str, Any]

DOMAIN = "uni.example.ac.uk"

# An account's register fields besides its id and its people, as most cases register it.
_REGISTRATION: dict[str, Any] = {
    "platform": "x",
    "handle": "UniNews",
    "registration_email": f"social@{DOMAIN}",
    "credential_model": "named_logins",
    "mfa_enabled": True,
    "central": True,
    "approved_by": "p-9",
    "emergency_access": "escrow",
}


# -- the directory -------------------------------------------------------------------------------------------------


def person(pid: str, groups: Sequence[str] = (), email: str | None = None) -> dict[str, Any]:
    """A person in the directory; the email defaults to ``p1@uni.example.ac.uk`` for ``p-1``, groups only if any."""
    out: dict[str, Any] = {"person_id": pid, "email": f"{pid.replace('-', '')}@{DOMAIN}" if email is None else email}
    if groups:
        out["groups"] = list(groups)
    return out


def staff(*pids: str) -> list[dict[str, Any]]:
    """People with the default emails, in the order given: ``staff("p-1", "p-2")``."""
    return [person(pid) for pid in pids]


def registration(account_id: str = "acc-1", *, omit: Collection[str] = (), **fields: Any) -> dict[str, Any]:
    """An account's register fields without its people (the data of ``directory.account_registered``).

    Keywords replace or add fields; ``omit`` names fields to leave out altogether (e.g. ``approved_by``).
    """
    out = {"account_id": account_id, **_REGISTRATION, **fields}
    for name in omit:
        del out[name]
    return out


def account(
    account_id: str = "acc-1",
    *,
    admins: Sequence[str] = ("p-1", "p-2"),
    manager: str | None = "p-2",
    omit: Collection[str] = (),
    **fields: Any,
) -> dict[str, Any]:
    """A complete register entry for the directory: `registration` plus its admins and manager (and `fields`)."""
    return registration(account_id, omit=omit, admins=list(admins), manager=manager, **fields)


# Departmental accounts that several rules' cases use besides the default one, as changes to its fields.
_SPORT: dict[str, Any] = {
    "platform": "instagram",
    "handle": "UniSport",
    "registration_email": f"sport@{DOMAIN}",
    "credential_model": "shared_credential",
    "central": False,
}
_LIBRARY: dict[str, Any] = {
    "platform": "facebook",
    "handle": "UniLibrary",
    "registration_email": f"library@{DOMAIN}",
    "central": False,
    "emergency_access": "backup_admin",
}


def sport_account(account_id: str = "acc-1", **overrides: Any) -> dict[str, Any]:
    """@UniSport on instagram: a departmental `account` whose people share one credential (kept in escrow)."""
    return account(account_id, **{**_SPORT, **overrides})


def library_account(account_id: str = "acc-1", **overrides: Any) -> dict[str, Any]:
    """@UniLibrary on facebook: a departmental `account` with named logins and a backup admin seat for emergencies."""
    return account(account_id, **{**_LIBRARY, **overrides})


def directory(
    *accounts: dict[str, Any],
    people: Sequence[dict[str, Any]] | None = None,
    domains: Sequence[str] = (DOMAIN,),
    **organisation: Any,
) -> dict[str, Any]:
    """A directory file: the people (left out when None), the accounts, and the organisation's domains and settings."""
    out: dict[str, Any] = {} if people is None else {"people": list(people)}
    out["accounts"] = list(accounts)
    out["organisation"] = {"domains": list(domains), **organisation}
    return out


# -- events ----------------------------------------------------------------------------------------------------------


def registered(time: str, id_: str, account_id: str, *, omit: Collection[str] = (), **fields: Any) -> Event:
    """``directory.account_registered`` for `account_id`: the `registration` defaults, changed by `fields`."""
    return ev("directory.account_registered", time, id_, **registration(account_id, omit=omit, **fields))


def account_updated(time: str, id_: str, *, account_id: str = "acc-1", **fields: Any) -> Event:
    """``directory.account_updated``: the register fields that changed."""
    return ev("directory.account_updated", time, id_, account_id=account_id, **fields)


def admin_assigned(time: str, id_: str, person_id: str, role: str = "admin", *, account_id: str = "acc-1") -> Event:
    """``directory.admin_assigned``: `person_id` takes `role` (admin, manager, editor) in the register."""
    return ev("directory.admin_assigned", time, id_, account_id=account_id, person_id=person_id, role=role)


def leaver(time: str, id_: str, person_id: str, leaving_at: str) -> Event:
    """``hr.leaver``: HR says `person_id` leaves at `leaving_at`."""
    return ev("hr.leaver", time, id_, person_id=person_id, leaving_at=leaving_at)


def role_changed(time: str, id_: str, person_id: str, effective_at: str, new_role: str = "lecturer") -> Event:
    """``hr.role_changed``: HR says `person_id` moves to `new_role` at `effective_at`."""
    return ev("hr.role_changed", time, id_, person_id=person_id, effective_at=effective_at, new_role=new_role)


def login(
    time: str,
    id_: str,
    *,
    account_id: str = "acc-1",
    person_id: str | None = "p-1",
    device_id: str = "d-1",
    managed: bool = True,
    mfa: bool = True,
    ip: str = "192.0.2.1",
    geo: dict[str, Any] | None = None,
) -> Event:
    """``login.succeeded``; without `person_id` (None) the platform could not tell who, without `geo` no location."""
    data: dict[str, Any] = {
        "account_id": account_id,
        "device_id": device_id,
        "device_managed": managed,
        "mfa": mfa,
        "ip": ip,
    }
    if person_id is not None:
        data["person_id"] = person_id
    if geo is not None:
        data["geo"] = geo
    return ev("login.succeeded", time, id_, **data)


def post(time: str, id_: str, *, account_id: str = "acc-1", person_id: str | None = None) -> Event:
    """``post.published``, by `person_id` when given."""
    if person_id is None:
        return ev("post.published", time, id_, account_id=account_id)
    return ev("post.published", time, id_, account_id=account_id, person_id=person_id)


def rotated(
    time: str, id_: str, *, actor_id: str = "p-2", account_id: str = "acc-1", fingerprint: str | None = None
) -> Event:
    """``credential.rotated`` by `actor_id`, with the new credential's fingerprint when given."""
    data: dict[str, Any] = {"account_id": account_id, "actor_id": actor_id}
    if fingerprint is not None:
        data["fingerprint"] = fingerprint
    return ev("credential.rotated", time, id_, **data)


def shared(time: str, id_: str, recipient_id: str, *, actor_id: str = "p-2", account_id: str = "acc-1") -> Event:
    """``credential.shared``: `actor_id` gives the password to `recipient_id`."""
    return ev("credential.shared", time, id_, account_id=account_id, actor_id=actor_id, recipient_id=recipient_id)


def temporary_access(
    time: str, id_: str, recipient_id: str, ends_at: str, *, actor_id: str = "p-2", account_id: str = "acc-1"
) -> Event:
    """``credential.temporary_access``: `recipient_id` takes the account over until `ends_at`."""
    return ev(
        "credential.temporary_access",
        time,
        id_,
        account_id=account_id,
        actor_id=actor_id,
        recipient_id=recipient_id,
        ends_at=ends_at,
    )


def platform_admin_added(time: str, id_: str, person_id: str, *, actor_id: str, account_id: str = "acc-1") -> Event:
    """``platform.admin_added``: `actor_id` gives `person_id` an admin seat on the platform."""
    return ev("platform.admin_added", time, id_, account_id=account_id, actor_id=actor_id, person_id=person_id)


def platform_admin_removed(time: str, id_: str, person_id: str, *, actor_id: str, account_id: str = "acc-1") -> Event:
    """``platform.admin_removed``: `actor_id` takes `person_id`'s admin seat on the platform away."""
    return ev("platform.admin_removed", time, id_, account_id=account_id, actor_id=actor_id, person_id=person_id)


def emergency_request(
    time: str, id_: str, requester_id: str, reason: str, *, minutes: int | None = None, account_id: str = "acc-1"
) -> Event:
    """``emergency.access_requested`` by `requester_id`, for `minutes` when given (else the profile's default)."""
    data: dict[str, Any] = {"account_id": account_id, "requester_id": requester_id, "reason": reason}
    if minutes is not None:
        data["minutes"] = minutes
    return ev("emergency.access_requested", time, id_, **data)
