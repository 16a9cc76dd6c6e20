"""A small client of the monitor's HTTP API (httpx), for the CLI and scripts.

The token comes from MONITOR_TOKEN or a file, never from a flag: flags end up in shell history and `ps`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(Exception):
    """The API refused or could not be reached; the message says why, and `status` is the HTTP status of a refusal."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def token_from(token_file: str | None = None) -> str:
    if token_file:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ClientError(f"{token_file}: cannot read: {exc.strerror}") from None
    token = os.environ.get("MONITOR_TOKEN", "").strip()
    if not token:
        raise ClientError(
            "no token: set MONITOR_TOKEN (or give --token-file FILE); make one with `monitor token create`"
        )
    return token


class Client:
    """Calls to the API as one token's holder."""

    def __init__(self, url: str | None = None, token: str = "", timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("MONITOR_URL") or DEFAULT_URL).rstrip("/")
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ClientError(
                f"{self.url!r} is not the monitor's address: write http://HOST:PORT (--url or MONITOR_URL)"
            )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, trust_env=False
        )

    def call(self, method: str, path: str, partial_ok: bool = False, **kw: Any) -> Any:
        """The answer's JSON (or text); ClientError with the server's reason for any refusal. With `partial_ok`, a
        422 that lists what it rejected (POST /api/events: the valid events were taken all the same) is an answer."""
        try:
            r = self.http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            waited = kw.get("timeout", self.http.timeout.read)
            raise ClientError(
                f"no answer from the monitor at {self.url} within {waited:.0f} s ({type(exc).__name__}); "
                "it may still be working on the request"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(
                f"cannot reach the monitor at {self.url} ({type(exc).__name__}): is it running there? (--url or "
                "MONITOR_URL)"
            ) from None
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = None
            if partial_ok and r.status_code == 422 and isinstance(body, dict) and "rejected" in body:
                return body
            detail = body.get("detail", r.text) if isinstance(body, dict) else r.text
            raise ClientError(f"{r.status_code}: {detail}", r.status_code)
        ctype = r.headers.get("content-type", "")
        return r.json() if ctype.startswith("application/json") else r.text

    def submit(self, events: list[dict[str, Any]]) -> Any:
        return self.call("POST", "/api/events", partial_ok=True, json=events)

    def close(self) -> None:
        self.http.close()
