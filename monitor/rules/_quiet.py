"""Preconditions under which several rules do nothing on an event (RuleSpec.quiet_when), asked once per event."""

from __future__ import annotations

from typing import Any

from monitor.facts import AccountFacts


def in_register(d: Any, a: AccountFacts) -> bool:
    """The account is registered and not retired: use of it is expected (DIR-01 has nothing to say)."""
    return a.registered and not a.retired


def ordinary_sign_in(d: Any, a: AccountFacts) -> bool:
    """A sign-in with MFA from a managed device by a named person with a role, seat or logged share on a registered,
    unretired account: the commonest event, on which the sign-in checks with nothing in their own state are quiet."""
    pid = d.person_id
    if not (d.mfa and d.device_managed and pid is not None and a.registered and not a.retired):
        return False
    return pid in a.roles or pid in a.platform_admins or pid in a.holders  # AccountFacts.has_access, without its call
