"""The console in a real browser: Debian's Chromium, headless, driven by Selenium against uvicorn on 127.0.0.1.

Skipped, with the reason, when Chromium, chromedriver or Selenium are missing (apt-get install -y chromium
chromium-driver; pip install -e .[dev]), unless MONITOR_REQUIRE_BROWSER=1 (as CI sets), when they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from monitor.demo import write_demo
from monitor.policy import load_profile
from service import auth, register
from service.api import build_api
from service.embedded import EmbeddedMonitor

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REQUIRED = os.environ.get("MONITOR_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1366,900",
]
SCRIPT = "<script>alert(1)</script>"
EVIL_NAME = f"{SCRIPT}\x1b[31m"
EVIL_REASON = "<img src=x onerror=alert(2)> hijacked"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install -y {package})"
    return None


@dataclass
class Site:
    """A console served by uvicorn on 127.0.0.1, a headless Chromium, and the monitor behind them."""

    url: str
    driver: Any
    monitor: EmbeddedMonitor
    evil_alert: str
    tokens: dict[str, str] = field(repr=False)  # a failing test prints the site: never its tokens


def need(site: Site | str) -> Site:
    """The site, or skip (or fail, when MONITOR_REQUIRE_BROWSER=1) with why there is none."""
    if isinstance(site, str):
        if REQUIRED:
            pytest.fail(f"MONITOR_REQUIRE_BROWSER=1 but {site}")
        pytest.skip(f"browser tests skipped: {site}")
    return site


@pytest.fixture(scope="module")
def site() -> Iterator[Site | str]:
    """The demo university behind a real uvicorn server, and a fresh headless Chromium."""
    why = missing()
    if why:
        yield why
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="console-browser-") as tmp:
        d = Path(tmp)
        dpath, epath = write_demo(d / "demo")
        m = EmbeddedMonitor(d / "m.db", load_profile("default"), dpath.read_text(), clock=lambda: NOW)
        with epath.open("rb") as fh:
            m.submit([(str(epath), n, line.strip()) for n, line in enumerate(fh, 1)], "test")
        member = next(p.person_id for p in m.read(register.people) if "comms-team" in p.groups)
        tokens = {
            "security": auth.create_token(m.store, "sec-analyst", "security", NOW),
            "comms": auth.create_token(m.store, member, "comms", NOW),
        }
        # markup in a person id and a reason, as an event feed could carry them: EMG-02 refuses and alerts
        m.request_emergency("acc-003", EVIL_NAME, EVIL_REASON, None, "feed")
        evil = m.read(lambda _, s: s.alerts(control=["EMG-02"], person_id=EVIL_NAME))[1][0].id

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(build_api(m), log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={d / 'profile'}")
        driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
        driver.set_page_load_timeout(20)
        try:
            yield Site(f"http://127.0.0.1:{port}", driver, m, evil, tokens)
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(10)
            sock.close()
            m.close()


def follow(s: Site, element: Any) -> None:
    """Click a link or submit button and wait until the browser has left the page (the next one is loading)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = s.driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_: Any) -> bool:
        # staleness_of, except that Chromium may answer a question about the old page's node mid-navigation with
        # an inspector error ("does not belong to the document") instead of a stale reference: both mean it is gone
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
        return False

    WebDriverWait(s.driver, 15).until(left)


def sign_in(s: Site, who: str, start: str = "/console") -> None:
    """Open `start`, get sent to the login form, and sign in there with `who`'s token."""
    from selenium.webdriver.common.by import By

    s.driver.get(s.url + start)
    assert "/console/login" in s.driver.current_url
    box = s.driver.find_element(By.ID, "token")
    box.send_keys(s.tokens[who])
    follow(s, s.driver.find_element(By.ID, "signin"))
    assert s.driver.find_element(By.ID, "whoami").text


def signed_in_as(s: Site, who: str) -> None:
    """Signed in as `who`, whatever the tests before left (so each test also runs alone)."""
    from selenium.webdriver.common.by import By

    s.driver.get(f"{s.url}/console/alerts")
    if "/console/login" not in s.driver.current_url:
        follow(s, s.driver.find_element(By.ID, "logout"))
    sign_in(s, who)


def no_dialog(s: Site) -> None:
    """No JavaScript alert is open (the injected markup did not run)."""
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        s.driver.switch_to.alert  # noqa: B018


def test_sign_in_and_open_every_page(site: Site | str) -> None:
    s = need(site)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    s.driver.get(f"{s.url}/console/alerts")
    assert "Sign in to continue" in s.driver.find_element(By.ID, "login-message").text
    # keyboard: the first Tab reaches the skip link
    s.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert s.driver.switch_to.active_element.text == "Skip to main content"
    sign_in(s, "security", "/console/alerts?status=open")
    assert s.driver.current_url.endswith("/console/alerts?status=open")  # back where they were going
    assert s.driver.find_element(By.ID, "whoami").text == "sec-analyst"
    for path, heading in [
        ("/console/alerts", "Alerts"),
        ("/console/leavers", "Leavers and movers"),
        ("/console/emergency", "Emergency access"),
        ("/console/register", "Account register"),
    ]:
        s.driver.get(s.url + path)
        assert s.driver.find_element(By.TAG_NAME, "h1").text.startswith(heading), path
        assert not s.driver.find_elements(By.ID, "refused")
    # the stylesheet loaded under the CSP: the skip link is moved off screen until focused
    s.driver.get(f"{s.url}/console/register")
    skip = s.driver.find_element(By.CLASS_NAME, "skip")
    assert skip.rect["y"] < 0
    # a failing control links to the board filtered by account and control
    link = s.driver.find_element(By.CSS_SELECTOR, "ul.inline-list a")
    control = link.text
    follow(s, link)
    assert s.driver.find_element(By.ID, "control").get_attribute("value") == control
    for cell in s.driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr td:nth-child(2)"):
        assert cell.text == control
    first = s.driver.find_element(By.CSS_SELECTOR, "#alerts .summary-link")
    follow(s, first)
    assert s.driver.find_element(By.ID, "next-step").text


def test_acknowledge_an_alert_on_the_board(site: Site | str) -> None:
    s = need(site)
    from selenium.webdriver.common.by import By

    signed_in_as(s, "security")
    s.driver.get(f"{s.url}/console/alerts?status=open&severity=high")
    button = s.driver.find_element(By.CSS_SELECTOR, "#alerts form.ack button")
    alert_id = button.get_attribute("id").removeprefix("ack-")
    assert s.monitor.read(lambda _, st: st.alert(alert_id)).status == "open"  # type: ignore[union-attr]
    follow(s, button)
    assert s.driver.find_element(By.ID, "flash").text == f"Alert {alert_id} acknowledged."
    assert "status=open" in s.driver.current_url  # back on the same filtered board
    assert s.monitor.read(lambda _, st: st.alert(alert_id)).status == "acknowledged"  # type: ignore[union-attr]
    s.driver.get(f"{s.url}/console/alerts/{alert_id}")
    assert "alert.acknowledged" in s.driver.find_element(By.ID, "audit").text


def test_injected_markup_is_rendered_as_text(site: Site | str) -> None:
    s = need(site)
    from selenium.webdriver.common.by import By

    signed_in_as(s, "security")
    s.driver.get(f"{s.url}/console/alerts/{s.evil_alert}")
    assert SCRIPT in s.driver.find_element(By.ID, "person").text
    assert SCRIPT in s.driver.find_element(By.ID, "summary").text
    assert not s.driver.find_elements(By.TAG_NAME, "script")
    assert not s.driver.find_elements(By.CSS_SELECTOR, "img")
    no_dialog(s)
    s.driver.get(f"{s.url}/console/emergency")
    assert "<img src=x onerror=alert(2)>" in s.driver.find_element(By.ID, "requests").text
    assert not s.driver.find_elements(By.CSS_SELECTOR, "img")
    no_dialog(s)


def test_file_an_emergency_request_as_a_comms_member(site: Site | str) -> None:
    s = need(site)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    signed_in_as(s, "security")
    follow(s, s.driver.find_element(By.ID, "logout"))
    assert "You have signed out" in s.driver.find_element(By.ID, "login-message").text
    sign_in(s, "comms")
    s.driver.get(f"{s.url}/console/emergency")
    Select(s.driver.find_element(By.ID, "account_id")).select_by_value("acc-001")
    s.driver.find_element(By.ID, "reason").send_keys("Hijacked: posts overnight, admins unreachable")
    s.driver.find_element(By.ID, "minutes").send_keys("60")
    follow(s, s.driver.find_element(By.ID, "request-access"))
    assert s.driver.find_element(By.ID, "outcome").text == "Emergency access granted"
    assert s.driver.find_element(By.ID, "until").text == "2026-11-01 01:00 UTC"
    rid = s.driver.find_element(By.ID, "request-id").text
    grant = s.monitor.read(lambda _, st: st.grant_for(rid))
    assert grant is not None and grant.account_id == "acc-001"
    s.driver.get(f"{s.url}/console/emergency")
    assert rid in s.driver.find_element(By.ID, "requests").text
