"""The console: server-rendered pages for people (IT security, HR, the comms team) over the embedded monitor.

Jinja2 with autoescaping on renders every page; there is no script at all, so the Content-Security-Policy can
forbid it. A session is a cookie holding the person's API token (HttpOnly, SameSite=Strict, Path=/console); every
POST carries a CSRF token, HMAC(secret made at mount time, cookie token), in a hidden field. Permissions are the
API's (service.auth): a page a role may not see answers 403 naming the roles that may.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.engine import EngineError
from monitor.policy import CONTROL_IDS
from monitor.visible import visible as visible_text
from schemas.alerts import Alert
from service import api, auth, metrics, register
from service.auth import AuthError, Principal
from service.embedded import EmbeddedMonitor

HERE = Path(__file__).parent
PREFIX = "/console"
COOKIE = "monitor_console"
FLASH = "monitor_console_flash"
PAGE_SIZE = 50
NOTE_MAX = 2000
REASON_MAX = 4096
STATUSES = ("open", "acknowledged", "resolved")
SEVERITIES = ("critical", "high", "medium", "low")
_CONTROL = re.compile(r"^[A-Z]{3}-\d{2}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]

# What each login message code says on the login page (codes, not text, travel in the URL).
LOGIN_MESSAGES = {
    "login": "Sign in to continue: paste your monitor token.",
    "revoked": "Your token has been revoked: ask an administrator for a new one (monitor token create).",
    "unknown": "That token is not known to this monitor: check you pasted all of it, or ask for a new one.",
    "malformed": "That is not a monitor token: monitor tokens start with 'smon_'.",
    "logged_out": "You have signed out.",
}


class SecurityHeaders:
    """Add the console's security headers (CSP without inline script, no framing, no referrer) to /console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding the headers to responses under /console."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        static = path.startswith(PREFIX + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in dict(SECURITY_HEADERS)]
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class _LoginNeeded(Exception):
    """No valid session: send the browser to the login page with a reason code."""

    def __init__(self, why: str, back: str) -> None:
        super().__init__(why)
        self.why = why
        self.back = back


class _Refused(Exception):
    """A signed-in person whose role lacks the permission, or a failed CSRF check: a 403 page."""

    def __init__(self, who: Principal | None, title: str, message: str, roles: list[str] | None = None) -> None:
        super().__init__(message)
        self.who = who
        self.title = title
        self.message = message
        self.roles = roles or []


@dataclass(frozen=True, slots=True)
class Flash:
    """A one-shot message shown on the page after a redirect."""

    kind: str
    text: str


def visible(value: Any) -> Any:
    """Jinja finalize: None as empty, and control or bidi-override characters shown as escapes, not sent raw."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, datetime):
        return when(value)
    return visible_text(str(value), lines=True)  # as the terminal commands show it, keeping tab and newline


def when(value: datetime | str | None) -> str:
    """A time as 'YYYY-MM-DD HH:MM UTC' (or as given when it is not a time)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def safe_back(value: str | None, default: str = PREFIX) -> str:
    """A local console path to return to, or `default`: never another site (no open redirect)."""
    if not value or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    if value == PREFIX or value.startswith((PREFIX + "/", PREFIX + "?")):
        return value
    return default


def make_env() -> Environment:
    """The Jinja2 environment: autoescape always on, undefined names an error, control characters made visible."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=visible,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.globals["prefix"] = PREFIX
    return env


class Console:
    """The console's state: the monitor, the CSRF and flash secret, the templates."""

    def __init__(self, monitor: EmbeddedMonitor) -> None:
        self.monitor = monitor
        self.secret = secrets.token_bytes(32)
        self.env = make_env()

    # ----- sessions ------------------------------------------------------------------------------

    def who(self, request: Request, permission: str | None = None) -> Principal:
        """The signed-in principal (else _LoginNeeded), holding `permission` when given (else _Refused)."""
        token = request.cookies.get(COOKIE)
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            back = PREFIX  # after signing in again, a form's target is no page to land on
        if not token:
            raise _LoginNeeded("login", back)
        try:
            found = self.monitor.read(lambda _, s: auth.authenticate(s, token))
        except AuthError as e:
            raise _LoginNeeded(_why(e.message), back) from None
        request.state.principal = found
        if permission is not None:
            self.require(found, permission)
        return found

    def require(self, who: Principal, permission: str) -> None:
        """_Refused naming the roles that may, unless `who` holds `permission`."""
        if not auth.allowed(who.role, permission):
            metrics.HTTP_DENIED.labels("403").inc()
            raise _Refused(
                who,
                "Not for your role",
                f"Your role ({who.role}) may not {auth.DESCRIPTIONS[permission]}.",
                auth.roles_with(permission),
            )

    def csrf(self, request: Request) -> str:
        """This session's CSRF token: HMAC of the cookie token under the console's secret."""
        token = request.cookies.get(COOKIE, "")
        return hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, who: Principal, form: dict[str, str]) -> None:
        """_Refused (403) unless the form carries this session's CSRF token."""
        sent = form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, self.csrf(request)):
            metrics.HTTP_DENIED.labels("403").inc()
            raise _Refused(
                who,
                "Form check failed",
                "This form did not carry a valid check token (CSRF): it may be from an old page or another site. "
                "Nothing was changed. Go back, reload the page and try again.",
            )

    # ----- flash messages ------------------------------------------------------------------------

    def _sign(self, data: bytes) -> str:
        return hmac.new(self.secret, b"flash\x1f" + data, hashlib.sha256).hexdigest()[:32]

    def flash(self, response: Response, kind: str, text: str) -> Response:
        """Set a one-shot message for the next page."""
        data = json.dumps({"kind": kind, "text": text[:500]}).encode()
        value = base64.urlsafe_b64encode(data).decode().rstrip("=") + "." + self._sign(data)
        response.set_cookie(FLASH, value, path=PREFIX, httponly=True, samesite="strict", max_age=300)
        return response

    def read_flash(self, request: Request) -> Flash | None:
        """The pending one-shot message, if its signature holds."""
        raw = request.cookies.get(FLASH)
        if not raw or "." not in raw:
            return None
        body, _, sig = raw.rpartition(".")
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            return None
        if not hmac.compare_digest(sig, self._sign(data)):
            return None
        try:
            obj = json.loads(data)
            return Flash(kind=str(obj["kind"]), text=str(obj["text"]))
        except (ValueError, KeyError, TypeError):
            return None

    # ----- rendering -----------------------------------------------------------------------------

    def page(
        self, request: Request, name: str, who: Principal | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """Render template `name` inside the layout, with the session's navigation, CSRF token and flash."""
        flash = self.read_flash(request)
        nav = _nav(who) if who else []
        html = self.env.get_template(name).render(
            who=who,
            nav=nav,
            here=request.url.path,
            csrf=self.csrf(request) if who else "",
            flash=flash,
            can=(lambda p: who is not None and auth.allowed(who.role, p)),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if request.cookies.get(FLASH):
            response.delete_cookie(FLASH, path=PREFIX, httponly=True, samesite="strict")
        return response


def _why(message: str) -> str:
    """The login message code for an authentication failure."""
    if message.startswith("token revoked"):
        return "revoked"
    if message.startswith("unknown"):
        return "unknown"
    if message.startswith("malformed"):
        return "malformed"
    return "login"


def _nav(who: Principal) -> list[tuple[str, str]]:
    """The pages this role may open: (path, label)."""
    items = [
        ("alerts:read", f"{PREFIX}/alerts", "Alerts"),
        ("leavers:read", f"{PREFIX}/leavers", "Leavers"),
        (None, f"{PREFIX}/emergency", "Emergency access"),
        ("register:read", f"{PREFIX}/register", "Register"),
    ]
    return [(path, label) for perm, path, label in items if perm is None or auth.allowed(who.role, perm)]


FORM_FIELDS_MAX = 50  # the console's forms have a few


class _BadForm(Exception):
    """A form body the console will not read: a 400 page saying why."""


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (the last value of each field); _BadForm for one of more
    than FORM_FIELDS_MAX fields, which the parser refuses with ValueError (a 500, before anyone was signed in)."""
    body = await request.body()
    try:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=FORM_FIELDS_MAX)
    except ValueError:
        raise _BadForm(f"This form sent more than {FORM_FIELDS_MAX} fields, and the console's forms have a few. "
                       "Nothing was changed. Go back, reload the page and try again.") from None  # fmt: skip
    return {k: v[-1] for k, v in parsed.items()}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ----- reads the pages need ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardFilter:
    """The alerts board's filters, checked: unknown values are dropped, not passed to the store."""

    status: list[str]
    severity: list[str]
    control: list[str]
    account: str
    person: str
    page: int

    @classmethod
    def from_query(cls, request: Request) -> BoardFilter:
        """The filters in the query string."""
        q = request.query_params
        try:
            page = max(1, min(int(q.get("page", "1")), 100_000))
        except ValueError:
            page = 1
        return cls(
            status=[s for s in q.getlist("status") if s in STATUSES],
            severity=[s for s in q.getlist("severity") if s in SEVERITIES],
            control=[c for c in q.getlist("control") if _CONTROL.match(c)],
            account=q.get("account", "").strip()[:256],
            person=q.get("person", "").strip()[:256],
            page=page,
        )

    def query(self, page: int | None = None) -> str:
        """The query string for these filters, on `page` (default: the same page)."""
        pairs: list[tuple[str, str]] = [("status", s) for s in self.status]
        pairs += [("severity", s) for s in self.severity]
        pairs += [("control", c) for c in self.control]
        if self.account:
            pairs.append(("account", self.account))
        if self.person:
            pairs.append(("person", self.person))
        n = self.page if page is None else page
        if n > 1:
            pairs.append(("page", str(n)))
        return urlencode(pairs)


def _board(monitor: EmbeddedMonitor, f: BoardFilter) -> dict[str, Any]:
    """One page of the board and its counts."""

    def read(_: Any, store: Any) -> dict[str, Any]:
        total, alerts = store.alerts(
            status=f.status,
            severity=f.severity,
            control=f.control,
            account_id=f.account or None,
            person_id=f.person or None,
            limit=PAGE_SIZE,
            offset=(f.page - 1) * PAGE_SIZE,
        )
        controls = [str(r[0]) for r in store.conn.execute("SELECT DISTINCT control FROM alerts ORDER BY control")]
        return {"total": total, "alerts": alerts, "counts": store.alert_counts(), "controls": controls}

    return monitor.read(read)


def _emergency_rows(monitor: EmbeddedMonitor) -> list[Any]:
    """Past emergency requests, newest first, each as the API's EmergencyStatus (grants fed as events too)."""
    ids = monitor.read(
        lambda _, s: [
            str(r[0])
            for r in s.conn.execute(
                "SELECT target FROM audit WHERE action = 'emergency.requested' ORDER BY id DESC LIMIT 200"
            )
        ]
    )
    rows = [api._emergency(monitor, rid) for rid in ids]
    known = set(ids)
    fed = monitor.read(lambda _, s: [_fed_status(s, g) for g in s.grants() if g.evidence not in known][-200:])
    return sorted(rows + fed, key=lambda s: s.requested_at, reverse=True)


def _emergency_status(monitor: EmbeddedMonitor, request_id: str) -> Any:
    """One request's EmergencyStatus: filed through the API or console, or granted from an event feed."""
    try:
        return api._emergency(monitor, request_id)
    except EngineError:
        grant = monitor.read(lambda _, s: s.grant_for(request_id))
        if grant is None:
            raise
        return monitor.read(lambda _, s: _fed_status(s, grant))


def _fed_status(store: Any, grant: Any) -> Any:
    """An EmergencyStatus for a grant whose request came in as an event (no console audit entry)."""
    late = store.alerts(control=["EMG-02"], account_id=grant.account_id, limit=1000)[1]
    return api.EmergencyStatus(
        request_id=grant.evidence,
        account_id=grant.account_id,
        requester_id=grant.requester_id,
        requested_at=grant.granted_at.isoformat(),
        reason=grant.reason,
        status="granted",
        grant=grant,
        alerts=[a for a in late if grant.id in a.evidence],
        lockouts=[c for c in store.lockouts(grant.account_id) if c.alert_id == grant.id],
    )


def rotation(status: Any, clock: datetime | None) -> str:
    """Whether the credential was rotated after a grant expired (EMG-02): an open EMG-02 alert on it says no."""
    grant = status.grant
    if grant is None:
        return ""
    if clock is None or grant.expires_at > clock:
        return "not yet expired"
    late = [a for a in status.alerts if a.control == "EMG-02" and grant.id in a.evidence]
    if any(a.status != "resolved" for a in late):
        return "not rotated: EMG-02 alert open"
    if late:
        return "rotated late (alert resolved)"
    return "rotated"


# ----- the routes ----------------------------------------------------------------------------------


def mount(app: FastAPI, monitor: EmbeddedMonitor) -> None:
    """Add the console's pages, its static CSS and its security headers to `app`."""
    c = Console(monitor)
    app.add_middleware(SecurityHeaders)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")

    async def login_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _LoginNeeded)
        url = f"{PREFIX}/login?" + urlencode({"why": exc.why, "next": safe_back(exc.back)})
        response = _see_other(url)
        if exc.why != "login":
            response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return c.page(
            request, "refused.html", exc.who, status=403, title=exc.title, message=exc.message, roles=exc.roles
        )

    async def bad_form(request: Request, exc: Exception) -> Response:
        return c.page(
            request, "refused.html", None, status=400, title="Form not understood", message=str(exc), roles=[]
        )

    app.add_exception_handler(_LoginNeeded, login_needed)
    app.add_exception_handler(_Refused, refused)
    app.add_exception_handler(_BadForm, bad_form)

    # ----- login and logout ----------------------------------------------------------------------

    @app.get(f"{PREFIX}/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        """The login form: paste your token."""
        why = request.query_params.get("why", "")
        return c.page(
            request,
            "login.html",
            None,
            message=LOGIN_MESSAGES.get(why, ""),
            error=why in ("revoked", "unknown", "malformed"),
            next=safe_back(request.query_params.get("next")),
        )

    @app.post(f"{PREFIX}/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        """Check the pasted token and start a session holding it."""
        form = await _form(request)
        token = form.get("token", "").strip()
        back = safe_back(form.get("next"))
        try:
            found = await run_in_threadpool(monitor.read, lambda _, s: auth.authenticate(s, token or None))
        except AuthError as e:
            metrics.HTTP_DENIED.labels("401").inc()
            why = _why(e.message) if token else "login"
            message = LOGIN_MESSAGES[why] if token else "Paste your token to sign in."
            return c.page(request, "login.html", None, status=401, message=message, error=True, next=back)
        if back == PREFIX and not auth.allowed(found.role, "alerts:read"):
            back = _home(found)
        response = _see_other(back)
        secure = request.url.scheme == "https"
        response.set_cookie(COOKIE, token, path=PREFIX, httponly=True, samesite="strict", secure=secure)
        return response

    @app.post(f"{PREFIX}/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        """End the session: clear the cookie."""
        form = await _form(request)
        try:
            who = await run_in_threadpool(c.who, request)
        except _LoginNeeded:
            who = None
        if who is not None:
            c.check_csrf(request, who, form)
        response = _see_other(f"{PREFIX}/login?why=logged_out")
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    # ----- alerts --------------------------------------------------------------------------------

    @app.get(PREFIX, include_in_schema=False)
    @app.get(f"{PREFIX}/", include_in_schema=False)
    def home(request: Request) -> Response:
        """The alerts board for those who may read alerts; otherwise the first page the role may open."""
        who = c.who(request)
        if not auth.allowed(who.role, "alerts:read"):
            return _see_other(_home(who))
        return board(request)

    @app.get(f"{PREFIX}/alerts", include_in_schema=False)
    def board(request: Request) -> Response:
        """The alerts board: newest first, filtered, paged."""
        who = c.who(request, "alerts:read")
        f = BoardFilter.from_query(request)
        data = _board(monitor, f)
        pages = max(1, -(-data["total"] // PAGE_SIZE))
        here = f"{PREFIX}/alerts" + (f"?{f.query()}" if f.query() else "")
        return c.page(
            request,
            "alerts.html",
            who,
            f=f,
            statuses=STATUSES,
            severities=SEVERITIES,
            known_controls=sorted(set(data["controls"]) | set(CONTROL_IDS)),
            pages=pages,
            back=here,
            first=(f.page - 1) * PAGE_SIZE + 1,
            prev_url=f"{PREFIX}/alerts?{f.query(f.page - 1)}" if f.page > 1 else None,
            next_url=f"{PREFIX}/alerts?{f.query(f.page + 1)}" if f.page < pages else None,
            **data,
        )

    @app.get(f"{PREFIX}/alerts/{{alert_id}}", include_in_schema=False)
    def alert_page(request: Request, alert_id: str) -> Response:
        """One alert: what, why, what to do, its versions and audit trail."""
        who = c.who(request, "alerts:read")

        def read(_: Any, store: Any) -> tuple[Alert | None, list[Alert], list[Any]]:
            return store.alert(alert_id), store.versions(alert_id), store.audit_trail(alert_id)

        found, versions, trail = monitor.read(read)
        if found is None:
            return c.page(request, "missing.html", who, status=404, what=f"alert {alert_id}")
        return c.page(
            request,
            "alert.html",
            who,
            a=found,
            versions=versions,
            trail=[(e, _detail_text(e.detail)) for e in trail],
            back=f"{PREFIX}/alerts/{alert_id}",
        )

    async def act(request: Request, alert_id: str, kind: str) -> Response:
        """Acknowledge or resolve from a form, then go back with a message."""
        form = await _form(request)
        who = await run_in_threadpool(c.who, request, "alerts:manage")
        c.check_csrf(request, who, form)
        back = safe_back(form.get("back"), f"{PREFIX}/alerts/{alert_id}")
        note = form.get("note", "").strip()
        response = _see_other(back)
        if len(note) > NOTE_MAX:
            return c.flash(response, "error", f"The note is over {NOTE_MAX} characters: nothing was changed.")
        if kind == "resolve" and not note:
            return c.flash(response, "error", f"Resolving {alert_id} needs a note saying what was done.")
        try:
            if kind == "ack":
                await run_in_threadpool(monitor.acknowledge, alert_id, who.name, note or None)
            else:
                await run_in_threadpool(monitor.resolve, alert_id, who.name, note)
        except EngineError as e:
            return c.flash(response, "error", f"Nothing was changed: {e}")
        done = "acknowledged" if kind == "ack" else "resolved"
        return c.flash(response, "ok", f"Alert {alert_id} {done}.")

    @app.post(f"{PREFIX}/alerts/{{alert_id}}/acknowledge", include_in_schema=False)
    async def acknowledge(request: Request, alert_id: str) -> Response:
        """Acknowledge an alert (someone is on it)."""
        return await act(request, alert_id, "ack")

    @app.post(f"{PREFIX}/alerts/{{alert_id}}/resolve", include_in_schema=False)
    async def resolve(request: Request, alert_id: str) -> Response:
        """Resolve an alert with a note."""
        return await act(request, alert_id, "resolve")

    # ----- leavers -------------------------------------------------------------------------------

    @app.get(f"{PREFIX}/leavers", include_in_schema=False)
    def leavers(request: Request) -> Response:
        """LVR-05: per leaver and mover, per account, what had to go and what was done."""
        who = c.who(request, "leavers:read")

        # Reported, yet on no account the monitor knows (a mistyped id, or nothing to revoke): the report's rows
        # with no account, listed apart from the table of account duties.
        report = monitor.leaver_report()
        rows = [r for r in report if r.account_id is not None]
        unplaced = [(r.person_id, r.kind, r.status != "not in the register") for r in report if r.account_id is None]
        return c.page(
            request,
            "leavers.html",
            who,
            rows=rows,
            unplaced=unplaced,
            people=len({r.person_id for r in rows}),
            by_status=sorted(Counter(r.status for r in rows).items()),
            missed=sum(1 for r in rows if r.met_deadline is False),
        )

    # ----- emergency access ----------------------------------------------------------------------

    def emergency_context(who: Principal) -> dict[str, Any]:
        params = monitor.read(lambda e, _: e.params)
        clock = monitor.read(lambda e, _: e.clock)
        accounts = (
            [a for a in monitor.read(register.accounts) if a.registered and not a.retired]
            if auth.allowed(who.role, "register:read")
            else []
        )
        past = _emergency_rows(monitor) if auth.allowed(who.role, "emergency:read") else []
        return {
            "accounts": accounts,
            "default_minutes": int(params.emergency_default.total_seconds() // 60),
            "max_minutes": int(params.emergency_max.total_seconds() // 60),
            "past": [(s, rotation(s, clock)) for s in past],
            "may_request": auth.allowed(who.role, "emergency:request"),
        }

    @app.get(f"{PREFIX}/emergency", include_in_schema=False)
    def emergency(request: Request) -> Response:
        """The emergency access form (comms team) and the requests so far."""
        who = c.who(request)
        return c.page(request, "emergency.html", who, errors=[], values={}, **emergency_context(who))

    @app.post(f"{PREFIX}/emergency", include_in_schema=False)
    async def emergency_post(request: Request) -> Response:
        """File an emergency access request as the signed-in person, with the API's rules."""
        form = await _form(request)
        who = await run_in_threadpool(c.who, request)
        c.check_csrf(request, who, form)
        account_id = form.get("account_id", "").strip()
        reason = form.get("reason", "").strip()
        minutes_text = form.get("minutes", "").strip()
        errors: list[str] = []
        if not account_id or len(account_id) > 256:
            errors.append("Choose the account (its id, at most 256 characters).")
        if not reason or len(reason) > REASON_MAX:
            errors.append(f"Say why you need access (at most {REASON_MAX} characters).")
        minutes: int | None = None
        if minutes_text:
            if minutes_text.isdigit() and 0 < int(minutes_text) <= 7 * 24 * 60:
                minutes = int(minutes_text)
            else:
                errors.append("Minutes must be a whole number of minutes, at least 1 (or leave it empty).")
        if errors:
            ctx = await run_in_threadpool(emergency_context, who)
            values = {"account_id": account_id, "reason": reason, "minutes": minutes_text}
            return c.page(request, "emergency.html", who, status=422, errors=errors, values=values, **ctx)
        return await run_in_threadpool(file_emergency, request, who, account_id, reason, minutes)

    def file_emergency(request: Request, who: Principal, account_id: str, reason: str, minutes: int | None) -> Response:
        role_ok = auth.allowed(who.role, "emergency:request")
        member = monitor.read(lambda e, _: register.is_comms_member(e, who.name, monitor.clock()))
        if not role_ok and member:
            monitor.audit(who.name, "emergency.denied", account_id, {"role": who.role})
            metrics.HTTP_DENIED.labels("403").inc()
            raise _Refused(
                who,
                "Use your comms token",
                f"Your role ({who.role}) may not request emergency access, though you are in the comms team: "
                "sign in with your comms token and ask again. This attempt was recorded.",
                auth.roles_with("emergency:request"),
            )
        rid, result = monitor.request_emergency(account_id, who.name, reason, minutes, who.name)
        metrics.observe_step(result)
        status = api._emergency(monitor, rid)
        clock = monitor.read(lambda e, _: e.clock)
        code = 200 if status.status == "granted" else 403
        if code == 403:
            metrics.HTTP_DENIED.labels("403").inc()
        return c.page(
            request,
            "emergency_result.html",
            who,
            status=code,
            s=status,
            rotation=rotation(status, clock),
            member=member,
            refusal=api.refusal_reason(monitor, status) if status.status == "refused" else None,
        )

    @app.get(f"{PREFIX}/emergency/{{request_id}}", include_in_schema=False)
    def emergency_request(request: Request, request_id: str) -> Response:
        """One emergency request and how it went."""
        who = c.who(request, "emergency:read")
        try:
            status = _emergency_status(monitor, request_id)
        except EngineError:
            return c.page(request, "missing.html", who, status=404, what=f"emergency request {request_id}")
        clock = monitor.read(lambda e, _: e.clock)
        return c.page(
            request,
            "emergency_result.html",
            who,
            s=status,
            rotation=rotation(status, clock),
            member=None,
            refusal=api.refusal_reason(monitor, status) if status.status == "refused" else None,
        )

    # ----- the register --------------------------------------------------------------------------

    @app.get(f"{PREFIX}/register", include_in_schema=False)
    def register_page(request: Request) -> Response:
        """Every account with its compliance: compliant, or the controls it fails, each linked to its alerts."""
        who = c.who(request, "register:read")
        applied, accounts = monitor.read(lambda e, store: (e.clock is not None, register.accounts(e, store)))
        return c.page(
            request,
            "register.html",
            who,
            applied=applied,
            accounts=accounts,
            compliant=sum(1 for a in accounts if a.compliant),
            board_url=_board_url,
        )


def _board_url(account: str, control: str) -> str:
    """The alerts board filtered to one account and control."""
    return f"{PREFIX}/alerts?" + urlencode({"account": account, "control": control})


def _home(who: Principal) -> str:
    """The first page this role may open."""
    return _nav(who)[0][0]


def _detail_text(detail: str | None) -> str:
    """An audit entry's detail as short text: JSON objects as 'key: value' pairs."""
    if not detail:
        return ""
    try:
        obj = json.loads(detail)
    except ValueError:
        return detail
    if isinstance(obj, dict):
        return "; ".join(f"{k}: {v}" for k, v in obj.items() if v is not None)
    return str(obj)
