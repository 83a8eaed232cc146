"""The county web service for tests: a real uvicorn on a loopback port, a real headless
Chromium (Debian's, driven by Selenium through Debian's chromedriver), and a county
store filled through the collector's own write path (``Database.store_batch``).
"""

from __future__ import annotations

import base64
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from station.db import Database, Event
from station.web.app import create_app
from station.web.auth import Role
from station.web.config import WebConfig, parse_web_config
from wire import events
from wire.clock import CST
from wire.qr import CertificateFields, build_qr_text, encode_body, signed_message
from wire.signing import SigningKey

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "web"
COUNTY = "330100"
VERIFY_URL = "HTTP://127.0.0.1:8080/V/"
PASSWORD = "correct-horse-battery"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=CST)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_config(tmp: Path, db_url: str, **overrides: Any) -> WebConfig:
    """A county config for tests: plain-HTTP cookies (simulation), cheap argon2."""
    doc: dict[str, Any] = {
        "simulation": True,
        "database": {"url": db_url, "pool_size": 4},
        "security": {
            "secret_key_file": str(tmp / "web.key"),
            "cookie_secure": False,
            "argon2_memory_kib": 8192,
            "argon2_time_cost": 1,
        },
        "verify": {"county": COUNTY, "verify_urls": [VERIFY_URL], "trust_refresh_s": 0.2},
        "map": {"kiosks": [{"device": "K001", "lon": 120.16, "lat": 30.27},
                           {"device": "K002", "lon": 120.30, "lat": 30.10}]},
    }  # fmt: skip
    for section, values in overrides.items():
        if isinstance(values, dict):
            doc.setdefault(section, {}).update(values)
        else:
            doc[section] = values
    return parse_web_config(doc)


@dataclass
class WebServer:
    """uvicorn serving ``create_app(config)`` on a thread; ``url`` is its base."""

    config: WebConfig
    clock: Callable[[], datetime]
    port: int = field(default_factory=free_port)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        app = create_app(self.config, clock=self.clock)
        proxies = self.config.server.trusted_proxies  # as `station serve` passes them
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on", proxy_headers=bool(proxies),
                                forwarded_allow_ips=proxies or None)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web service did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(10)

    def scan_url(self, qr_text: str) -> str:
        """What a phone opens: the QR's path on this server."""
        return self.url + "/V/" + qr_text.rsplit("/", 1)[1]


class Clock:
    """A settable clock for the service (certificate age, 'today' on the dashboard)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# ---- the county store, filled like the collector fills it --------------------------


class County:
    """Registers kiosks and stores their events as the collector would."""

    def __init__(self, db_url: str) -> None:
        self.db = Database(db_url)
        self.seq: dict[str, int] = {}
        self.keys: dict[str, SigningKey] = {}

    def kiosk(self, device: str = "K001", township: str = "示范镇") -> SigningKey:
        key = SigningKey.generate()
        self.keys[device] = key
        self.db.execute(
            "INSERT INTO devices (county, device_id, township, service_point, enrolled_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [COUNTY, device, township, f"{township}服务点", "2026-01-01T00:00:00+00:00"],
        )
        self.db.execute(
            "INSERT INTO device_keys (county, device_id, public_key, key_id, valid_from) "
            "VALUES (?, ?, ?, ?, ?)",
            [COUNTY, device, key.public_b64, key.key_id, "2026-01-01T00:00:00+00:00"],
        )
        if self.db.dialect.placeholder == "%s":
            self.db.conn.commit()
        return key

    def revoke(self, device: str) -> None:
        self.db.execute(
            "UPDATE device_keys SET revoked_at = ? WHERE device_id = ?",
            ["2026-06-01T00:00:00+00:00", device],
        )
        if self.db.dialect.placeholder == "%s":
            self.db.conn.commit()

    def store(self, device: str, event: events.Event, at: datetime = NOW) -> None:
        seq = self.seq.get(device, 0) + 1
        self.seq[device] = seq
        doc = events.envelope(event, county=COUNTY, device=device, seq=seq, time=at)
        import json

        body = json.dumps(doc, ensure_ascii=False)
        self.db.store_batch([Event(COUNTY, device, seq, doc["id"], event.kind, event.schema,
                                   event.version, doc["time"], doc["data"], body)])  # fmt: skip

    def certificate(
        self,
        device: str = "K001",
        n: int = 1,
        *,
        issued_at: datetime = NOW - timedelta(hours=1),
        product: tuple[str, str] = ("V001", "青菜"),
        phone: str = "13812345678",
        upload: bool = True,
        quantity: str = "12.5",
        issuer: str = "张秀英",
    ) -> str:
        """Sign a certificate as the kiosk would; store its issued event unless not
        ``upload``; returns the QR text."""
        number = f"{COUNTY}-{device}-{n:07d}"
        fields = CertificateFields(
            number=number, product=product[1], quantity=f"{quantity}公斤",
            origin="浙江省杭州市示范镇示范村", issuer=issuer, phone=phone,
            issued_at=issued_at.replace(second=0, microsecond=0), basis="quality_control",
            template_code=1,
        )  # fmt: skip
        body = encode_body(fields)
        text = build_qr_text(
            VERIFY_URL, body, self.keys[device].sign(signed_message(VERIFY_URL, body))
        )
        if upload:
            township = self.db.query("SELECT township FROM devices WHERE device_id = ?", [device])[
                0
            ][0]
            self.store(device, events.certificate_issued(
                number=number, seq=n, issued_at=fields.issued_at, template_id="2025-style1",
                style="style1", product_code=product[0], product_name=product[1],
                quantity=Decimal(quantity), unit="公斤", origin=fields.origin,
                issuer_name=issuer, issuer_phone=phone, producer_key=f"tel:{phone}",
                basis="quality_control", inputs_used=[], test_ref=None, source_certificate=None,
                township=township, service_point=f"{township}服务点",
            ), issued_at)  # fmt: skip
        return text

    def void(self, device: str, n: int, reason: str = "数量填错") -> None:
        self.store(device, events.certificate_voided(number=f"{COUNTY}-{device}-{n:07d}",
                                                     reason=reason))  # fmt: skip

    def hold(self, device: str, hold_id: int, phone: str = "13812345678",
             product_code: str = "V001") -> None:  # fmt: skip
        self.store(device, events.hold_placed(hold_id=hold_id, producer_key=f"tel:{phone}",
                                              product_code=product_code,
                                              reason="有机磷类农药快检确认阳性",
                                              source="rapidtest:T1"))  # fmt: skip

    def close(self) -> None:
        self.db.close()


def forge(qr_text: str) -> str:
    """The same QR with one byte of the body changed (the quantity, say)."""
    url, token = qr_text.rsplit("/", 1)
    raw = bytearray(base64.b32decode(token + "=" * (-len(token) % 8)))
    raw[20] ^= 0x01
    return url + "/" + base64.b32encode(bytes(raw)).decode().rstrip("=")


def add_account(server: WebServer, username: str, role: Role, market: str | None = None) -> None:
    from station.web import auth

    s = server.config.security
    ph = auth.hasher(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)
    with Database(server.config.database.url) as db:
        market_id = None
        if market is not None:
            found = [m[0] for m in auth.markets(db) if m[2] == market]
            market_id = found[0] if found else auth.add_market(db, COUNTY, market, "示范镇")
        auth.add_account(db, ph, username, PASSWORD, role, display_name=username,
                         market_id=market_id)  # fmt: skip


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """Log in over HTTP (the form's CSRF token first, as a browser would)."""
    page = client.get("/login")
    token = csrf_of(page.text)
    return client.post("/login", data={"csrf": token, "username": username,
                                       "password": password, "next": "/"})  # fmt: skip


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


# ---- the browser -------------------------------------------------------------------


def chromium_options() -> Any:
    from selenium.webdriver.chrome.options import Options

    for binary in ("chromium", "chromedriver"):
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} is missing: apt-get install chromium chromium-driver "
                        "(scripts/setup does)")  # fmt: skip
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                "--window-size=1280,900", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(arg)
    return options


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (starting one costs about a second)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(
        options=chromium_options(),
        service=Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"),
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str, *, width: int = 1280, full: bool = True) -> Path:
    """Save the page under tests/artifacts/web/ (git-ignored) for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight") if full else 900
    driver.set_window_size(width, max(400, min(int(height) + 40, 4000)))
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def submit(driver: Any, action: Callable[[], None], timeout: float = 15.0) -> None:
    """Submit a form (``action`` clicks or types Enter) and wait for the next page to
    have replaced this one: a click returns before the browser has navigated."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    action()
    stale = expected_conditions.staleness_of(old)

    def replaced(d: Any) -> bool:
        try:
            return bool(stale(d))
        except WebDriverException as error:  # asked mid-swap: "does not belong to the document"
            return "does not belong to the document" in str(error)

    wait = WebDriverWait(driver, timeout)
    wait.until(replaced)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def browser_login(driver: Any, server: WebServer, username: str, next_path: str = "/") -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{server.url}/login?next={next_path}")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    submit(driver, driver.find_element(By.ID, "login").click)
    # The login answers with a redirect: wait for the page it leads to, loaded, before
    # the test looks for its elements (under load a lookup raced the swap of documents).
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 15).until(
        lambda d: (
            next_path.split("?")[0] in d.current_url
            and d.execute_script("return document.readyState") == "complete"
        )
    )


@pytest.fixture
def county_web(tmp_path: Path) -> Iterator[tuple[County, WebServer, Clock]]:
    """A SQLite county store, its web service, and the service's clock."""
    url = str(tmp_path / "county.db")
    county = County(url)
    clock = Clock()
    server = WebServer(web_config(tmp_path, url), clock).start()
    try:
        yield county, server, clock
    finally:
        server.stop()
        county.close()
