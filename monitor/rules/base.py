"""The rule registry: each control is a pure function (event, state, context) -> (state, actions)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from monitor.facts import AccountFacts, PersonFacts
from monitor.policy import Params, Severity


@dataclass(frozen=True, slots=True)
class Raise:
    """Open (or keep open) the alert identified by (control, account, person, key)."""

    key: str
    summary: str
    next_step: str
    person_id: str | None = None
    evidence: tuple[str, ...] = ()
    severity: Severity | None = None
    escalate_at: datetime | None = None
    lockout: bool = False
    # With lockout, on an alert already open: this sign shows the lockout under way did not hold, so issue another
    relock: bool = False
    account_id: str | None = None  # act on this account instead of the event's (CRD-06: all sharers)


@dataclass(frozen=True, slots=True)
class Resolve:
    """Close the alert (control, account, person, key) because the evidence arrived."""

    key: str
    person_id: str | None = None
    evidence: tuple[str, ...] = ()
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class Wake:
    """Call this rule again with a Tick for this account at event time `at`."""

    at: datetime
    key: str


@dataclass(frozen=True, slots=True)
class Grant:
    """An emergency access grant the engine records and announces (EMG-02)."""

    requester_id: str
    until: datetime
    reason: str
    evidence: str


Action = Raise | Resolve | Wake | Grant


@dataclass(frozen=True, slots=True)
class Tick:
    """A wake-up a rule asked for, delivered like an event at its due time."""

    time: datetime
    key: str
    account_id: str
    type: str = "tick"
    id: str = ""


@dataclass(slots=True)
class Envelope:
    """An event's envelope as the engine hands it to the rules: its id, type, time and data, each read once from the
    event. A pydantic model's `__getattr__` keeps Python from specialising a read of its fields (about 420
    instructions against 60 for a slot), and the rules a sign-in meets read these about twenty times between them."""

    id: str
    type: str
    time: datetime
    data: Any


class People(Protocol):
    def get(self, person_id: str) -> PersonFacts | None: ...


@dataclass(slots=True)
class Context:
    """What a rule may read besides its own state: facts after the event, parameters, the clock."""

    now: datetime
    account: AccountFacts
    people: Mapping[str, PersonFacts]
    params: Params
    open_incidents: Mapping[str, datetime]
    fingerprints: Mapping[str, set[str]]  # credential fingerprint -> accounts whose current one it is (CRD-06)
    mailboxes: Mapping[str, str]  # a person's email local part, lowercased -> person id (DIR-04)
    # (control, person_id, key) -> whether a person resolved that alert on this account (not reopened since)
    resolved_by_person: Callable[[str, str | None, str], bool]
    # when the latest emergency lockout of an alert on this account was issued, or None
    locked_at: Callable[[], datetime | None] = lambda: None

    def person(self, person_id: str | None) -> PersonFacts | None:
        return self.people.get(person_id) if person_id else None


def _none() -> None:
    """The initial state of a rule that starts with nothing."""
    return None


RuleFn = Callable[[Any, Any, Context], tuple[Any, Sequence[Action]]]
# A cheap test of an event's data and its account's facts (after the event) that a rule names for a type in its spec
# (RuleSpec.quiet_when): rules naming the same function share one call per event.
Precondition = Callable[[Any, AccountFacts], bool]


@dataclass(frozen=True, slots=True)
class Case:
    """An example beside a rule: events (and optionally a directory) that must or must not alert."""

    name: str
    expect: Literal["alert", "none"]
    events: tuple[dict[str, Any], ...]
    directory: dict[str, Any] | None = None
    until: str | None = None
    severity: Severity | None = None
    status: Literal["open", "acknowledged", "resolved"] | None = None
    profile: str = "default"


@dataclass(frozen=True)
class RuleSpec:
    """A control's implementation and what it claims: severity, the events it reads, its window."""

    control: str
    title: str
    severity: Severity | None
    sources: tuple[str, ...]
    on: frozenset[str]
    fn: RuleFn
    window: timedelta | str | None = None
    kind: Literal["alert", "report"] = "alert"
    initial: Callable[[], Any] = _none
    cases: tuple[Case, ...] = field(default=())
    # True when its Raise/Resolve may name another account (`account_id`): a partitioned deployment then runs it
    # on every partition that sees the event, each applying the actions on the accounts it owns
    cross_account: bool = False
    # Event types on which the rule does nothing (its state as given, no actions) unless the event's actor had left by
    # then (`_hijack.acted_after_leaving`): the engine asks that once for all such rules, and runs them on those types
    # only when it holds. Most events are sign-ins, and two rules would each ask on every one.
    only_after_leaving: frozenset[str] = frozenset()
    # Event type -> a precondition under which the rule does nothing on that type (no state and no actions) while it
    # has no state on the account: the engine asks each precondition once per event and does not call such rules.
    # Most sign-ins are ordinary, and on them most rules return at once.
    quiet_when: Mapping[str, Precondition] = field(default_factory=dict, hash=False)


RULES: dict[str, RuleSpec] = {}


def rule(
    control: str,
    *,
    title: str,
    severity: Severity | None,
    sources: Sequence[str],
    on: Sequence[str],
    cases: Sequence[Case],
    window: timedelta | str | None = None,
    kind: Literal["alert", "report"] = "alert",
    initial: Callable[[], Any] = _none,
    cross_account: bool = False,
    only_after_leaving: Collection[str] = (),
    quiet_when: Mapping[str, Precondition] | None = None,
) -> Callable[[RuleFn], RuleFn]:
    """Register a rule under its control ID, with its spec and its example cases."""

    def register(fn: RuleFn) -> RuleFn:
        if control in RULES:
            raise ValueError(f"control {control} registered twice ({RULES[control].fn.__name__}, {fn.__name__})")
        if not set(only_after_leaving) <= set(on):
            raise ValueError(f"control {control}: only_after_leaving names types it is not on")
        if not set(quiet_when or ()) <= set(on):
            raise ValueError(f"control {control}: quiet_when names types it is not on")
        RULES[control] = RuleSpec(
            control=control,
            title=title,
            severity=severity,
            sources=tuple(sources),
            on=frozenset(on),
            fn=fn,
            window=window,
            kind=kind,
            cross_account=cross_account,
            only_after_leaving=frozenset(only_after_leaving),
            quiet_when=dict(quiet_when or {}),
            initial=initial,
            cases=tuple(cases),
        )
        return fn

    return register


def ev(type_: str, time: str, id_: str, source: str = "test", **data: Any) -> dict[str, Any]:
    """A CloudEvents JSON object for cases and tests, in one line."""
    return {"specversion": "1.0", "id": id_, "source": source, "type": type_, "time": time, "data": data}
