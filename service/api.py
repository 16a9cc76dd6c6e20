"""The HTTP API (JSON, OpenAPI at /openapi.json) over the embedded monitor.

FastAPI because it turns the pydantic models we already have into the OpenAPI document and validates
request bodies against them; writing that by hand would be a second copy of the schemas to keep in step.
Handlers are thin: authenticate, authorize, call the monitor, shape the answer.
"""

import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.arrival import advance_too_far
from monitor.directory import DirectoryError, parse_directory
from monitor.engine import Engine, EngineError
from monitor.report import LeaverRow
from monitor.rules._hijack import unknown_account
from monitor.yamlfile import dump_yaml
from schemas.alerts import Alert, EmergencyGrant, LockoutCommand
from schemas.directory import MAX_REGISTER_BYTES
from schemas.events import Event, Rejected, compact_json, parse_event
from service import auth, metrics, register
from service.auth import AuthError, Principal
from service.embedded import EmbeddedMonitor, StepResult
from service.sinks import unset_url_warning
from service.store import storable

ControlId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}-\d{2}$")]
MAX_BODY = 1 << 20  # 1 MiB per request; one event is at most 64 KiB as compact JSON (EVENTS.md)
MAX_EVENTS = 10_000  # events in one request to /api/events: each is checked, and a rejected one written down
MAX_OFFSET = 10**9  # alerts to pass over in a page, at most: more than any store holds
REJECTED_SHOWN = 100  # the rejected events an answer lists, at most (rejected_total counts them all)
log = logging.getLogger("service.api")

LARGER_BODIES = {"/api/register/import": MAX_REGISTER_BYTES}


class SizeLimit:
    """Refuse request bodies over `limit` bytes with 413, counting what arrives (Content-Length may be absent).

    `larger` gives some paths a limit of their own (a register file is far larger than a batch of events).
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = LARGER_BODIES if larger is None else larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(limit, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps({"detail": f"request body over the {limit}-byte limit"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# ----- request and response bodies ----------------------------------------------------------------


class RejectedItem(BaseModel):
    line: int | None = Field(None, description="1-based position in the array or JSONL body")
    event_id: str | None
    reason: str


class SubmitResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedItem] = Field(description=f"the first {REJECTED_SHOWN} rejected, by position")
    rejected_total: int = Field(0, description="how many were rejected")
    alerts: list[str] = Field(description="ids of alert versions this submission produced")


class AlertPage(BaseModel):
    total: int
    alerts: list[Alert]


class AuditItem(BaseModel):
    at: str
    actor: str
    action: str
    target: str | None
    detail: str | None


class AlertDetail(BaseModel):
    alert: Alert
    versions: list[Alert]
    audit: list[AuditItem]


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # stripped, as the console strips it: a note of spaces says nothing about what was done
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class EmergencyRequestBody(BaseModel):
    # Blanks around a pasted id are not part of it, and a reason of blanks is none, as on the console's form: without
    # this, " acc-001" was refused as an account not in the register, and "   " granted with no reason kept.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_id: Annotated[str, Field(min_length=1, max_length=256)]
    reason: Annotated[str, Field(min_length=1, max_length=4096)]
    minutes: Annotated[int, Field(gt=0, le=7 * 24 * 60)] | None = None


class EmergencyStatus(BaseModel):
    request_id: str
    account_id: str
    requester_id: str
    requested_at: str
    reason: str
    status: Literal["granted", "refused", "pending"]
    grant: EmergencyGrant | None
    alerts: list[Alert]
    lockouts: list[LockoutCommand]


class AdvanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime


class ImportResponse(BaseModel):
    events: int
    accepted: int
    duplicates: int
    unlisted: int = Field(0, description="registered accounts the file does not list: kept as they are, or retired "
                          "with retire_missing")  # fmt: skip
    unlisted_first: list[str] = Field(
        default_factory=list, description=f"the first {register.UNLISTED_SHOWN} of them by id"
    )
    changes: dict[str, int] = Field(default_factory=dict, description="the changes by event type, e.g. "
                                    "{\"directory.account_registered\": 2}")  # fmt: skip
    dry_run: bool = Field(False, description="true: the changes were worked out and not made")
    described: list[str] = Field(default_factory=list, description=f"the first {register.SAID_SHOWN} changes to "
                                 "people, accounts and roles in words, one each, by ids and field names (a new "
                                 "account's platform and handle too), e.g. \"acc-7: p-2 loses admin; keeps "
                                 "manager\" (retirements: unlisted)")  # fmt: skip
    described_total: int = Field(0, description="how many such changes (a role holder's changed roles are one, made "
                                 "of several events)")  # fmt: skip


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when a warning says what is wrong (the monitor still runs)")
    warnings: list[str] = Field(
        default_factory=list,
        description="configuration problems, e.g. a sink with no URL, and "
        "trouble taking input: the drop folder or the clock failing, a file set aside",
    )
    clock: str | None
    log_entries: int
    alerts: dict[str, int]
    outbox: dict[str, Any]
    busy: str | None = Field(None, description="what the engine is doing, while a step holds it (then, counts are "
                             "as of the last step committed)")  # fmt: skip
    busy_seconds: float | None = Field(None, description="for how long it has been doing it")


# ----- the app ------------------------------------------------------------------------------------


def build_api(monitor: EmbeddedMonitor, *, console: bool = True) -> FastAPI:
    """The FastAPI app serving the API (and the console pages, unless `console` is False)."""
    app = FastAPI(
        title="Social account monitor",
        version="1",
        description="Alerts, the register, leavers and emergency access for an organisation's social accounts. "
        "Every /api route takes 'Authorization: Bearer TOKEN' (create one with `monitor token create`).",
        # No /docs or /redoc: FastAPI's pages load their scripts from a public CDN, and people would paste their
        # tokens into them. The schema at /openapi.json opens in any OpenAPI tool.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(SizeLimit)
    app.state.monitor = monitor

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        metrics.HTTP_DENIED.labels(str(exc.status)).inc()
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(EngineError)
    async def _engine_error(request: Request, exc: EngineError) -> JSONResponse:
        status = 404 if str(exc).startswith("no ") else 409  # "no alert with id ...", "no emergency request ..."
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(DirectoryError)
    async def _bad_directory(request: Request, exc: DirectoryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise AuthError(401, "the Authorization header must be 'Bearer TOKEN'")
        found = monitor.read(lambda _, s: auth.authenticate(s, token.strip() or None))
        request.state.principal = found
        return found

    def needs(permission: str) -> Callable[[Principal], Principal]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            auth.authorize(who, permission)
            return who

        return check

    Who = Annotated[Principal, Depends(principal)]

    # ----- health and metrics (no token: probes and Prometheus scrape them) --------------------

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> Health:
        """Answers at once, even while a long step (a large register's fold, an import, a snapshot) runs."""
        s = monitor.status()
        warnings = [w for w in (unset_url_warning(monitor.sinks), *monitor.warnings()) if w]
        return Health(
            status="degraded" if warnings else "ok",
            warnings=warnings,
            clock=s.clock.isoformat() if s.clock else None,
            log_entries=s.log_entries,
            alerts=s.alerts,
            outbox=s.outbox,
            busy=s.busy,
            busy_seconds=s.busy_seconds,
        )

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics_page() -> Response:
        metrics.refresh(monitor)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # ----- events --------------------------------------------------------------------------------

    @app.post(
        "/api/events",
        response_model=SubmitResponse,
        status_code=202,
        tags=["events"],
        responses={422: {"model": SubmitResponse, "description": "some events rejected; the valid ones were taken"}},
    )
    async def submit_events(request: Request, who: Who) -> JSONResponse:
        """Submit events (EVENTS.md): one JSON object, a JSON array, or JSONL (Content-Type application/x-ndjson).

        Each event is checked; rejected ones are listed with their position and reason (the first 100, and
        `rejected_total` counts them) and the valid ones are taken all the same. 202 when all were taken, 422 when
        any was rejected, 413 with none taken for over 10,000 events in one request. Besides the contract's checks,
        an emergency request must be in the token's own name, and a directory.person event may not change who is
        in the comms-team group from a comms token, nor the groups of the token's own person (but from an admin's).
        """
        body = await request.body()
        items = _split_events(body, request.headers.get("content-type", ""))
        if len(items) > MAX_EVENTS:  # whole: the events past a cut would be lost unseen
            return JSONResponse({"detail": f"{len(items):,} events in one request, over the limit of {MAX_EVENTS:,} a "
                                 f"request: nothing was taken; send them in requests of at most {MAX_EVENTS:,}"},
                                status_code=413)  # fmt: skip
        refused: list[RejectedItem] = []
        people: list[tuple[int, Event]] = []  # directory.person events, judged against the register under its lock
        for n, obj in items:
            etype = obj.get("type") if isinstance(obj, dict) else None
            if isinstance(etype, str):
                auth.authorize(who, auth.event_permission(etype))
            if etype == "emergency.access_requested" and (reason := _not_own_request(who, obj)):
                refused.append(_refused_item(n, obj, reason))
                log.warning("/api/events item %d refused: an emergency request in another's name, by %s's token", n,
                            who.name)  # fmt: skip
            elif etype == "directory.person" and who.role != "admin":
                with contextlib.suppress(Rejected):  # else the step rejects it, with its reason
                    people.append((n, parse_event(_to_bytes(obj))))

        def take(engine: Engine, _: Any) -> StepResult:
            # Judged and taken in one hold of the engine's lock: no change to the person can come in between.
            if people:
                judge = register.group_change_judge(engine, who.name, who.role)
                for n, ev in people:
                    if reason := judge(ev.data.person_id, ev.data.groups):
                        refused.append(_refused_item(n, {"id": ev.id}, reason))
                        log.warning("/api/events item %d refused: a change to %s's groups, by %s's %s token", n,
                                    ev.data.person_id, who.name, who.role)  # fmt: skip
            skip = {r.line for r in refused}
            lines = [(f"api:{who.name}", n, _to_bytes(o)) for n, o in items if n not in skip]
            return monitor.submit(lines, who.name)

        result = await run_in_threadpool(monitor.read, take)  # may wait for the lock: not on the loop
        metrics.observe_step(result)
        out = _submit_response(result, refused)
        return JSONResponse(out.model_dump(), status_code=422 if out.rejected_total else 202)

    # ----- alerts --------------------------------------------------------------------------------

    @app.get("/api/alerts", response_model=AlertPage, tags=["alerts"])
    def list_alerts(
        who: Annotated[Principal, Depends(needs("alerts:read"))],
        status: Annotated[list[Literal["open", "acknowledged", "resolved"]], Query()] = [],  # noqa: B006
        control: Annotated[list[ControlId], Query()] = [],  # noqa: B006
        severity: Annotated[list[Literal["low", "medium", "high", "critical"]], Query()] = [],  # noqa: B006
        account_id: str | None = None,
        person_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,  # SQLite's integers end at 2^63: a 500 past it
    ) -> AlertPage:
        """Alerts, newest first, filtered by any of status, control, severity, account and person."""
        total, page = monitor.read(
            lambda _, s: s.alerts(
                status=status,
                control=control,
                severity=severity,
                account_id=account_id,
                person_id=person_id,
                limit=limit,
                offset=offset,
            )
        )
        return AlertPage(total=total, alerts=page)

    @app.get("/api/alerts/{alert_id}", response_model=AlertDetail, tags=["alerts"])
    def alert_detail(alert_id: str, who: Annotated[Principal, Depends(needs("alerts:read"))]) -> AlertDetail:
        """One alert with every version it went through and its audit trail."""
        return _detail(monitor, alert_id)

    @app.post("/api/alerts/{alert_id}/acknowledge", response_model=Alert, tags=["alerts"])
    def acknowledge(
        alert_id: str, who: Annotated[Principal, Depends(needs("alerts:manage"))], body: Note | None = None
    ) -> Alert:
        """Say someone is on it. A resolved alert cannot be acknowledged (409)."""
        return monitor.acknowledge(alert_id, who.name, body.note if body else None)

    @app.post("/api/alerts/{alert_id}/resolve", response_model=Alert, tags=["alerts"])
    def resolve(alert_id: str, body: ResolveBody, who: Annotated[Principal, Depends(needs("alerts:manage"))]) -> Alert:
        """Close an alert with a note saying what was done. It reopens if its cause is seen again."""
        return monitor.resolve(alert_id, who.name, body.note)

    @app.get("/api/audit", response_model=list[AuditItem], tags=["alerts"])
    def audit_trail(
        who: Annotated[Principal, Depends(needs("audit:read"))],
        target: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[AuditItem]:
        """Who did what and when: newest first, or everything about one target (alert, request, person)."""
        entries = monitor.read(lambda _, s: s.audit_trail(target, limit))
        return [AuditItem(**_entry(e)) for e in entries]

    # ----- leavers -------------------------------------------------------------------------------

    @app.get("/api/leavers", response_model=list[LeaverRow], tags=["hr"])
    def leavers(who: Annotated[Principal, Depends(needs("leavers:read"))]) -> list[LeaverRow]:
        """LVR-05: per leaver and mover, per account, what had to go, what was done and when. A person HR reported
        who reaches no account has one row with `account_id` null and the status `nothing to revoke`, or `not in
        the register` when the register's directory does not name them (a mistyped id?)."""
        return monitor.leaver_report()

    # ----- the register --------------------------------------------------------------------------

    def require_applied() -> None:
        """503 before the monitor's first moment, when the register file is applied: until then it names nobody,
        and an empty answer (or an empty export, edited and imported back) would be taken for the register."""
        if monitor.read(lambda engine, _: engine.clock is None):
            raise HTTPException(503, "the register is not applied yet: ask again after the monitor's first moment "
                                "(its first tick, or its first event with ticks off)")  # fmt: skip

    @app.get("/api/register/accounts", response_model=list[register.AccountView], tags=["register"])
    def accounts(who: Annotated[Principal, Depends(needs("register:read"))]) -> list[register.AccountView]:
        """Every account the monitor knows, with its admins, manager and the controls it fails now.

        One known only from events (used or asked for, never registered) has `registered` false and is never
        `compliant`; 503 until the register is applied at the monitor's first moment."""
        require_applied()
        return monitor.read(register.accounts)

    @app.get("/api/register/accounts/{account_id}", response_model=register.AccountView, tags=["register"])
    def account(
        account_id: str, who: Annotated[Principal, Depends(needs("register:read"))]
    ) -> register.AccountView | JSONResponse:
        require_applied()
        found = [a for a in monitor.read(register.accounts) if a.account_id == account_id]
        if not found:
            return JSONResponse({"detail": f"no account with id {account_id}"}, status_code=404)
        return found[0]

    @app.get("/api/register/people", response_model=list[register.PersonView], tags=["register"])
    def people(who: Annotated[Principal, Depends(needs("register:read"))]) -> list[register.PersonView]:
        """Every person of the register's directory, with the accounts they reach; 503 until it is applied.

        Their leaving dates only to the roles that may read the leaver report."""
        require_applied()
        leavers = auth.allowed(who.role, "leavers:read")
        return monitor.read(lambda engine, _: register.people(engine, leavers=leavers))

    @app.get("/api/register/people/{person_id}", response_model=register.PersonView, tags=["register"])
    def person(person_id: str, who: Annotated[Principal, Depends(needs("register:read"))]) -> Any:
        """One person of the register's directory, with the accounts they reach; 404 when it does not name them."""
        require_applied()
        leavers = auth.allowed(who.role, "leavers:read")  # their leaving date only to those who may read the report
        found = monitor.read(lambda engine, _: register.person(engine, person_id, leavers=leavers))
        if found is None:
            return JSONResponse({"detail": f"no person with id {person_id} in the register"}, status_code=404)
        return found

    @app.get("/api/register/export", tags=["register"], response_class=PlainTextResponse)
    def export_register(who: Annotated[Principal, Depends(needs("register:read"))]) -> Response:
        """The register as the directory YAML file (EVENTS.md, "The directory file"); 503 until it is applied."""
        require_applied()
        # Built under the engine's lock, written out after it: 10,000 accounts take seconds to write as YAML.
        text = dump_yaml(monitor.read(lambda e, _: register.export(e, monitor.directory)))
        return Response(text, media_type="application/yaml")

    @app.post("/api/register/import", response_model=ImportResponse, tags=["register"])
    async def import_register(
        request: Request,
        who: Annotated[Principal, Depends(needs("register:edit"))],
        retire_missing: bool = False,
        dry_run: bool = False,
    ) -> ImportResponse:
        """Replace the register with a directory YAML file: only the differences become directory.* events.

        They are in effect when the call returns: event time moves to the import's moment, past the lateness.
        With dry_run, the changes are worked out and said, and none is made (503 until the register is applied).
        A file that changes groups the token may not change (see POST /api/events) is refused whole (403).
        """
        body = await request.body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:  # not replaced: a name or an email would be changed without a word
            raise DirectoryError(f"import: not UTF-8 text (byte {exc.start})") from None
        now = monitor.clock()

        def take() -> tuple[list[Event], list[str], list[str], StepResult]:
            # In a worker thread, not the server's loop; the file is parsed before the engine's lock is taken.
            d = parse_directory(text, "import")
            register.check_retire_missing(d, retire_missing)  # before the register is applied: nothing changes
            if dry_run:
                require_applied()  # applying it is a change; and against no register, everything would differ
            elif monitor.read(lambda e, _: e.clock is None):
                monitor.advance(now)  # the file's register first: the import is what differs from it
            said: list[str] = []

            def diff_and_take(e: Engine, _: Any) -> tuple[list[Event], list[str], StepResult]:
                # One hold of the engine's lock: the groups judged are the ones the changes are made to.
                events = register.import_events(e, d, text, now, retire_missing, said)
                refused: list[str] = []
                if people := [ev.data for ev in events if ev.type == "directory.person"]:
                    judge = register.group_change_judge(e, who.name, who.role)
                    refused = [reason for p in people if (reason := judge(p.person_id, p.groups))]
                if refused:
                    raise _import_refused(who, refused)
                missing = register.unlisted(e, d)
                if dry_run:
                    return events, missing, StepResult()
                return events, missing, monitor.submit_events(events, who.name, action="register.imported",
                                                              in_effect_at=now)  # fmt: skip

            events, missing, result = monitor.read(diff_and_take)
            return events, missing, said, result

        events, missing, said, result = await run_in_threadpool(take)
        metrics.observe_step(result)
        return ImportResponse(
            events=len(events),
            accepted=result.accepted,
            duplicates=result.duplicates,
            unlisted=len(missing),
            unlisted_first=missing[: register.UNLISTED_SHOWN],
            changes=register.change_counts(events),
            dry_run=dry_run,
            described=said[: register.SAID_SHOWN],
            described_total=len(said),
        )

    # ----- emergencies ---------------------------------------------------------------------------

    @app.post("/api/emergency-requests", response_model=EmergencyStatus, status_code=202, tags=["emergency"])
    def request_emergency(body: EmergencyRequestBody, who: Who) -> EmergencyStatus | JSONResponse:
        """Ask for time-boxed emergency access to an account during a hack (EMG-02), as the token's person.

        Granted (202) only to a comms token held by a current member of the register's comms-team group.
        Anyone else is refused with 403; a request from outside the comms team is also recorded, so IT
        security get a critical EMG-02 alert about it.
        """
        role_ok = auth.allowed(who.role, "emergency:request")
        member = monitor.read(lambda e, _: register.is_comms_member(e, who.name, monitor.clock()))
        if not role_ok and member:
            monitor.audit(who.name, "emergency.denied", body.account_id, {"role": who.role})
            raise AuthError(403, f"role {who.role!r} may not request emergency access: use your comms token")
        rid, result = monitor.request_emergency(body.account_id, who.name, body.reason, body.minutes, who.name)
        metrics.observe_step(result)
        status = _emergency(monitor, rid)
        if status.status != "granted":
            detail = f"refused: {refusal_reason(monitor, status)}; request {rid} was recorded and IT security alerted"
            return JSONResponse(
                {"detail": detail, "request_id": rid, "alerts": [a.id for a in status.alerts]}, status_code=403
            )
        return status

    @app.get("/api/emergency-requests", response_model=list[EmergencyStatus], tags=["emergency"])
    def emergency_requests(who: Annotated[Principal, Depends(needs("emergency:read"))]) -> list[EmergencyStatus]:
        ids = monitor.read(
            lambda _, s: [
                r[0]
                for r in s.conn.execute(
                    "SELECT target FROM audit WHERE action = 'emergency.requested' ORDER BY id DESC LIMIT 200"
                )
            ]
        )
        return [_emergency(monitor, rid) for rid in ids]

    @app.get("/api/emergency-requests/{request_id}", response_model=EmergencyStatus, tags=["emergency"])
    def emergency_request(
        request_id: str, who: Annotated[Principal, Depends(needs("emergency:read"))]
    ) -> EmergencyStatus:
        return _emergency(monitor, request_id)

    @app.get("/api/lockouts", response_model=list[LockoutCommand], tags=["emergency"])
    def lockouts(
        who: Annotated[Principal, Depends(needs("emergency:read"))], account_id: str | None = None
    ) -> list[LockoutCommand]:
        """Emergency lockout commands issued (CONTROLS.md, Emergencies)."""
        return monitor.read(lambda _, s: s.lockouts(account_id))

    # ----- operations ----------------------------------------------------------------------------

    @app.post("/api/clock/advance", response_model=SubmitResponse, tags=["operations"])
    def advance(body: AdvanceBody, who: Annotated[Principal, Depends(needs("clock:advance"))]) -> SubmitResponse:
        """Move event time on (admin): deadlines up to `until` fall due now; 422 past MONITOR_MAX_AHEAD from now."""
        if monitor.max_ahead is not None and (
            problem := advance_too_far(body.until, monitor.clock(), monitor.max_ahead)
        ):
            raise HTTPException(422, f"until: {problem}")
        result = monitor.advance(body.until)
        metrics.observe_step(result)
        monitor.audit(who.name, "clock.advanced", None, {"until": body.until.isoformat()})
        return _submit_response(result)

    if console:
        from service import console as console_pages

        console_pages.mount(app, monitor)
    return app


# ----- helpers ------------------------------------------------------------------------------------


def _entry(e: Any) -> dict[str, Any]:
    return {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail}


def _not_own_request(who: Principal, obj: dict[str, Any]) -> str | None:
    """Why an emergency request on /api/events is refused: it must name the token's own person as requester, as
    /api/emergency-requests does, or a comms token outside the team would be granted access (and the account's
    lockout) in a team member's name. An admin token may name anyone: it can make a token for anyone."""
    if who.role == "admin":
        return None
    data = obj.get("data")
    requester = data.get("requester_id") if isinstance(data, dict) else None
    if requester == who.name:
        return None
    return (f"an emergency request is made in the requester's own name: this token is {who.name}'s, and the "
            f"event names {requester!r} as data.requester_id (POST /api/emergency-requests makes the request in "
            "your name)")  # fmt: skip


def _refused_item(n: int, obj: Any, reason: str) -> RejectedItem:
    """An event of the body the API refuses before the monitor's step sees it, counted with the rejections."""
    metrics.observe_refused(reason)
    event_id = obj.get("id") if isinstance(obj, dict) else None
    return RejectedItem(line=n, event_id=storable(event_id) if isinstance(event_id, str) else None, reason=reason)


GROUP_REFUSALS_SAID = 5  # the refused changes to groups an import's refusal names, at most


def _import_refused(who: Principal, reasons: list[str]) -> AuthError:
    """An import that changes groups the token may not change is refused whole (403), each change counted: its
    answer has no list of refused changes for a client to show (`monitor directory import` prints the counts), so
    taking the rest would leave a register that differs from the file while looking imported."""
    for reason in reasons:
        metrics.observe_refused(reason)
    log.warning("register import refused: %d changes to groups by %s's %s token", len(reasons), who.name, who.role)
    more = f"; and {len(reasons) - GROUP_REFUSALS_SAID} more" if len(reasons) > GROUP_REFUSALS_SAID else ""
    return AuthError(403, "import refused, nothing was changed: " + "; ".join(reasons[:GROUP_REFUSALS_SAID]) + more
                     + ". Keep their groups as the register has them (`monitor directory export`), or have the "
                     "change made by whom the reason names")  # fmt: skip


def _split_events(body: bytes, content_type: str) -> list[tuple[int, Any]]:
    """(position, parsed JSON or the raw line) for each event in the body."""
    if "ndjson" in content_type or "jsonl" in content_type:
        out: list[tuple[int, Any]] = []
        for n, line in enumerate(body.splitlines(), 1):
            if line.strip():
                try:
                    out.append((n, json.loads(line)))
                except (ValueError, RecursionError):  # the decoder gives the reason
                    out.append((n, line))
        return out
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # the decoder gives the reason
        return [(1, body)]
    if isinstance(parsed, list):
        return list(enumerate(parsed, 1))
    return [(1, parsed)]


def _to_bytes(obj: Any) -> bytes:
    """An event of the body as the decoder takes it: as compact JSON in UTF-8, which its size is measured in."""
    if isinstance(obj, bytes):
        return obj
    return compact_json(obj)


def _submit_response(result: StepResult, refused: list[RejectedItem] | None = None) -> SubmitResponse:
    """The answer to a step: with `refused`, the events the API refused before the step, listed with the step's
    rejections by position. The first REJECTED_SHOWN are listed, all counted: every one listed made the answer to
    `[0,0,...]` 38 times the request's size."""
    rejected = [RejectedItem(line=r.line, event_id=r.event_id, reason=r.reason) for r in result.rejected]
    if refused:
        rejected = sorted([*rejected, *refused], key=lambda r: r.line or 0)
    return SubmitResponse(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=rejected[:REJECTED_SHOWN],
        rejected_total=len(rejected),
        alerts=[a.id for a in result.alerts],
    )


def _detail(monitor: EmbeddedMonitor, alert_id: str) -> AlertDetail:
    def read(_: Any, store: Any) -> AlertDetail:
        found = store.alert(alert_id)
        if found is None:
            raise EngineError(f"no alert with id {alert_id}")
        return AlertDetail(
            alert=found,
            versions=store.versions(alert_id),
            audit=[AuditItem(**_entry(e)) for e in store.audit_trail(alert_id)],
        )

    return monitor.read(read)


def _emergency(monitor: EmbeddedMonitor, request_id: str) -> EmergencyStatus:
    def read(_: Any, store: Any) -> EmergencyStatus:
        row = store.conn.execute(
            "SELECT at, actor, detail FROM audit WHERE action = 'emergency.requested' AND target = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise EngineError(f"no emergency request with id {request_id}")
        detail = json.loads(row[2])
        grant = store.grant_for(request_id)
        alerts = [
            a
            for a in store.alerts(control=["EMG-02", "EMG-01"], account_id=detail["account_id"], limit=1000)[1]
            if request_id in a.evidence or (grant is not None and grant.id in a.evidence)
        ]
        refused = any(a.control == "EMG-02" and request_id in a.evidence and not grant for a in alerts)
        status: Literal["granted", "refused", "pending"] = "granted" if grant else "refused" if refused else "pending"
        return EmergencyStatus(
            request_id=request_id,
            account_id=detail["account_id"],
            requester_id=row[1],
            requested_at=row[0],
            reason=detail["reason"],
            status=status,
            grant=grant,
            alerts=alerts,
            lockouts=[c for c in store.lockouts(detail["account_id"]) if c.issued_at >= _t(row[0])],
        )

    return monitor.read(read)


def refusal_reason(monitor: EmbeddedMonitor, status: EmergencyStatus) -> str:
    """Why EMG-02 refused a request, in its words: the requester is not a current comms-team member, or the
    account is not in the register (a mistyped id) or retired."""

    def read(engine: Engine, _: Any) -> str:
        facts = engine.accounts.get(status.account_id)
        unknown = f"{status.account_id} is not in the register" if facts is None else unknown_account(facts)
        if unknown is not None and register.is_comms_member(engine, status.requester_id, _t(status.requested_at)):
            return f"{unknown}: check the account id (the register lists them); nothing was locked"
        also = f" (and {unknown})" if unknown is not None else ""
        return f"{status.requester_id} is not a current member of the comms-team group in the register{also}"

    return monitor.read(read)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)
