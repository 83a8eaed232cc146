"""The county web service under load: the public scan page, then the dashboard pages.

Part 1, scan page: ``station serve`` (one uvicorn worker, its own process) over a
SQLite county store holding N signed, uploaded certificates. A load generator in
this process (asyncio, raw keep-alive HTTP/1.1 over loopback, so the client costs
little next to the server) requests

* ``/static/app.css``: the baseline, the same server doing no work;
* ``/V/<payload>`` for certificates never scanned before (signature verified: Ed25519
  plus three indexed lookups);
* the same certificates again (the signature verdict cached: a label scanned twice).

The server is pinned to one core (core 0, ``os.sched_setaffinity``) and the load
generator to another (core 1), so "requests/s" is what one core of the server does.
It prints, for each: requests/s, p50/p95 latency, the server's CPU-seconds per 1,000
requests (and requests per server CPU-second: a figure other load on a shared machine
distorts less), and the ratio of requests/s to the baseline from the same run.
Goal (issue 15): p95 <= 20 ms and >= 1,000 verifications/s on one core (first scans).

Part 2, dashboard: a store holding two years of a 50-kiosk county (3 million
certificates, 500,000 rapid tests by default; ``--certificates`` to scale; about 15 %
of the certificates checked at one of 30 markets, and ~1 report without a certificate per
market per day), each
dashboard page requested ``--page-runs`` times by a logged-in officer: p50/p95 per
page. Goal: every page <= 300 ms p95.

    .venv/bin/python bench/bench_verify_page.py [--quick] [--skip-dashboard] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.web import COUNTY, NOW, County, free_port  # noqa: E402

from station import rollups  # noqa: E402
from station.db import Database  # noqa: E402
from station.web import auth  # noqa: E402

PASSWORD = "bench-password-1"


def write_config(folder: Path, db: Path | str, port: int) -> Path:
    path = folder / "station.toml"
    path.write_text(
        f"""
simulation = true
[server]
host = "127.0.0.1"
port = {port}
[database]
url = "{db}"
[security]
secret_key_file = "{folder / "web.key"}"
cookie_secure = false
public_requests_per_minute = 100000
argon2_memory_kib = 8192
[verify]
county = "{COUNTY}"
verify_urls = ["HTTP://127.0.0.1:8080/V/"]
""",
        "utf-8",
    )
    return path


#: (server core, load generator core), when the machine has two.
SERVER_CORE, CLIENT_CORE = 0, 1


def pinning() -> bool:
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def _pin_server() -> None:  # runs in the child before exec: every thread inherits it
    os.sched_setaffinity(0, {SERVER_CORE})


def start_server(config: Path, port: int, pin: bool = False) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "serve", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=_pin_server if pin else None,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    import socket

    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the web service did not start")


# ---- the load generator --------------------------------------------------------------


async def _one_connection(
    port: int, paths: list[str], cookie: str, latencies: list[float], statuses: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    try:
        for path in paths:
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses.append(int(head.split(b" ", 2)[1]))
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), for requests per core-second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    port: int, paths: list[str], connections: int, cookie: str = "", pid: int | None = None
) -> dict:
    """Spread ``paths`` over ``connections`` keep-alive connections; time it all. With the
    server's ``pid``, also its CPU time: requests per second of one dedicated core, a
    figure other load on the machine does not distort."""
    latencies: list[float] = []
    statuses: list[int] = []
    shares = [paths[i::connections] for i in range(connections)]

    async def run() -> None:
        await asyncio.gather(*(
            _one_connection(port, share, cookie, latencies, statuses) for share in shares
        ))  # fmt: skip

    cpu_before = cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    latencies.sort()
    bad = sum(1 for s in statuses if s != 200)
    return {
        "n": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "errors": bad,
        "per_core_s": len(latencies) / cpu if cpu > 0 else None,
        "cpu_per_1000": 1000 * cpu / len(latencies) if cpu > 0 else None,
    }


def show(name: str, r: dict, base: dict | None = None) -> None:
    ratio = f" ({r['rps'] / base['rps']:.2f}x baseline)" if base else ""
    core = (
        f"  server CPU {r['cpu_per_1000']:.3f} s per 1000 req"
        f" ({r['per_core_s']:.0f} req per CPU-second)"
        if r.get("per_core_s")
        else ""
    )
    print(f"  {name:<34} {r['n']:>6} req  {r['rps']:>6.0f} req/s{ratio}  p50 {r['p50']:6.2f} ms  "
          f"p95 {r['p95']:6.2f} ms  non-200 {r['errors']}{core}")  # fmt: skip


# ---- part 1: the scan page -----------------------------------------------------------


def bench_scan(folder: Path, certificates: int, connections: int, pin: bool = True) -> None:
    db_path = folder / "scan.db"
    county = County(str(db_path))
    county.kiosk("K001")
    t = time.perf_counter()
    payloads = []
    for n in range(1, certificates + 1):
        qr = county.certificate("K001", n, issued_at=datetime.now(NOW.tzinfo) - timedelta(hours=1))
        payloads.append("/V/" + qr.rsplit("/", 1)[1])
    county.close()
    took = time.perf_counter() - t
    pin = pin and pinning()
    where = (
        f"server pinned to core {SERVER_CORE}, load generator to core {CLIENT_CORE}"
        if pin
        else "not pinned (--no-pin, or fewer than two cores usable)"
    )
    print(f"scan page: {certificates} certificates signed and stored in {took:.1f} s; "
          f"one uvicorn worker, {connections} connections; {where}")  # fmt: skip
    port = free_port()
    server = start_server(write_config(folder, db_path, port), port, pin=pin)
    own_cores = os.sched_getaffinity(0) if pin else set()
    if pin:
        os.sched_setaffinity(0, {CLIENT_CORE})
    try:
        pid = server.pid
        load(port, ["/static/app.css"] * 500, connections)  # warm up
        base = load(port, ["/static/app.css"] * certificates, connections, pid=pid)
        show("static file (baseline)", base)
        random.shuffle(payloads)
        first = load(port, payloads, connections, pid=pid)
        show("scan page, first scan", first, base)
        again = load(port, payloads, connections, pid=pid)
        show("scan page, scanned again (cached)", again, base)
        single = load(port, payloads[: min(2000, len(payloads))], 1, pid=pid)
        show("scan page, one connection", single, base)
        p95_ok = "met" if first["p95"] <= 20 else "NOT met"
        rps_ok = "met" if first["rps"] >= 1000 else "NOT met"
        core_ok = "met" if (first["per_core_s"] or 0) >= 1000 else "NOT met"
        one = "on one pinned core" if pin else "unpinned"
        print(
            f"  goal (first scans) p95 <= 20 ms: {p95_ok}; >= 1000 verifications/s {one}: "
            f"{rps_ok} ({first['rps']:.0f}/s); >= 1000 per server CPU-second: {core_ok} "
            f"({first['per_core_s'] or 0:.0f}); load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        server.terminate()
        server.wait()
        if pin:
            os.sched_setaffinity(0, own_cores)


# ---- part 2: the dashboard -------------------------------------------------------------


CERT_COLUMNS = (
    "county, number, device, event_id, issued_at, day, township, service_point, "
    "product_code, product_name, quantity, unit, basis, producer_key"
)
TEST_COLUMNS = ("county, device, test_id, day, producer_key, product_code, method, analyte, "
                "verdict, retest_of, sample_id")  # fmt: skip


def county_rows(certificates: int, tests: int, kiosks: int = 50) -> dict[str, tuple[str, list]]:
    """Two years of a county as rows of the projections the pages read, by table:
    (columns, rows). Producers are 20,000 random phone numbers over every township and
    product: the worst case for distinct counts (almost every producer-day is distinct);
    one certificate in 200 is voided."""
    rng = random.Random(15)
    townships = [f"第{n}镇" for n in range(1, 16)]
    products = [(f"V{n:03d}", f"蔬菜{n}") for n in range(1, 61)]
    units = ["公斤"] * 8 + ["斤", "箱"]
    start = date.today() - timedelta(days=729)
    devices = [f"K{n:03d}" for n in range(1, kiosks + 1)]
    certs = []
    for n in range(certificates):
        day = start + timedelta(days=n * 730 // certificates)
        d = devices[n % kiosks]
        product = products[rng.randrange(60)]
        certs.append((COUNTY, f"{COUNTY}-{d}-{n:08d}", d, f"{d}:{n}", day.isoformat() + "T09:00",
                      day.isoformat(), townships[(n % kiosks) % 15], "点", product[0], product[1],
                      str(rng.randrange(1, 500)), rng.choice(units), "quality_control",
                      f"tel:138{rng.randrange(20000):08d}"))  # fmt: skip
    verdicts = ["negative"] * 46 + ["positive", "invalid", "suspicious", "negative"]
    runs = []
    for n in range(tests):
        day = start + timedelta(days=n * 730 // tests)
        runs.append((COUNTY, devices[n % kiosks], f"T{n}", day.isoformat(),
                     f"tel:138{rng.randrange(20000):08d}", products[rng.randrange(60)][0],
                     ["GB/T5009.199", "胶体金", "酶抑制率法"][n % 3], "organophosphate",
                     rng.choice(verdicts), None, f"S{n - n % 3 if n % 7 == 0 else n}"))  # fmt: skip
    return {
        "devices": ("county, device_id, township, service_point, enrolled_at",
                    [(COUNTY, d, townships[i % 15], f"{townships[i % 15]}服务点", "2024-01-01")
                     for i, d in enumerate(devices)]),
        "device_state": ("county, device, status, software_version, config_version, backlog, "
                         "state_time",
                         [(COUNTY, d, "online", "0.1.0", "3", 0, datetime.now().isoformat())
                          for d in devices]),
        "certificates": (CERT_COLUMNS, certs),
        "certificate_voids": ("county, number, reason, voided_at",
                              [(COUNTY, c[1], "数量填错", "2026-01-01") for c in certs[::200]]),
        "rapid_tests": (TEST_COLUMNS, runs),
    }  # fmt: skip


#: Two markets in each of the 15 townships; 1-3 inspectors each.
MARKETS_PER_TOWNSHIP = 2


def _connect(url: str) -> tuple[object, str]:
    """A raw connection for bulk writes (sqlite3 or psycopg) and its placeholder."""
    if url.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(url), "%s"
    conn = sqlite3.connect(url)
    conn.execute("PRAGMA synchronous=OFF")
    return conn, "?"


def market_rows(
    certificates: int, markets: list[tuple[int, str]], inspectors: dict[int, list[int]],
    kiosks: int = 50,
) -> tuple[list[tuple], list[tuple]]:  # fmt: skip
    """Check-ins and 无证反馈 of two years, shaped like the rows station/web/public.py
    record_checkin and station/web/market.py write: about 15 % of certificates checked at
    a market of their township on the day they were issued (~2 % of those again at a
    second market, the produce split), a few percent refused; about one report without
    a certificate per market per day. ``markets`` is (id, township) in township order."""
    rng = random.Random(16)
    by_township: dict[str, list[int]] = {}
    for mid, township in markets:
        by_township.setdefault(township, []).append(mid)
    all_markets = [mid for mid, _ in markets]
    townships = [f"第{n}镇" for n in range(1, 16)]
    start = date.today() - timedelta(days=729)
    refused = ["expired"] * 5 + ["suspended"] * 2 + ["bad_signature"]
    checkins: list[tuple] = []
    for n in range(certificates):
        if rng.random() >= 0.15:
            continue
        day = (start + timedelta(days=n * 730 // certificates)).isoformat()
        d = f"K{n % kiosks + 1:03d}"
        number = f"{COUNTY}-{d}-{n:08d}"
        if n % 200 == 0:
            status = "voided"
        elif rng.random() < 0.03:
            status = rng.choice(refused)
        else:
            status = "not_uploaded" if rng.random() < 0.01 else "valid"
        valid = int(status in ("valid", "not_uploaded"))
        mid = rng.choice(by_township[townships[(n % kiosks) % 15]])
        seconds = rng.randrange(5 * 3600, 12 * 3600)
        at = f"{day}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}+08:00"
        mode = "desk" if rng.random() < 0.8 else "phone"
        checkins.append((COUNTY, number, mid, rng.choice(inspectors[mid]), status, valid, mode,
                         at, day))  # fmt: skip
        if rng.random() < 0.02:  # part of the lot sold on at another market
            other = rng.choice([m for m in all_markets if m != mid])
            later = f"{day}T{min(seconds // 3600 + 3, 23):02d}:{seconds // 60 % 60:02d}:00+08:00"
            checkins.append((COUNTY, number, other, rng.choice(inspectors[other]), status,
                             valid, "phone", later, day))  # fmt: skip
    reports: list[tuple] = []
    for offset in range(730):
        day = (start + timedelta(days=offset)).isoformat()
        for mid in all_markets:
            for k in range(rng.choice((0, 1, 1, 2))):
                reports.append((mid, rng.choice(inspectors[mid]), f"蔬菜{rng.randrange(1, 61)}",
                                f"{rng.randrange(5, 200)}公斤", f"个体户{rng.randrange(300)}",
                                f"{day}T{7 + k:02d}:30:00+08:00", day))  # fmt: skip
    return checkins, reports


def fill_markets(url: str, certificates: int) -> int:
    """Markets, their inspectors, check-ins and 无证反馈 written in bulk into a county
    store that has none (a cached store of an earlier bench gains them here);
    returns the number of check-ins."""
    conn, mark = _connect(url)
    cur = conn.cursor()  # type: ignore[attr-defined]
    townships = [f"第{n}镇" for n in range(1, 16)]
    for township in townships:
        for k in range(1, MARKETS_PER_TOWNSHIP + 1):
            cur.execute(f"INSERT INTO markets (county, name, township, created_at) VALUES "
                        f"({mark}, {mark}, {mark}, {mark})",
                        (COUNTY, f"{township}农贸市场{k}", township, "2024-01-01"))  # fmt: skip
    cur.execute("SELECT id, township FROM markets ORDER BY id")
    markets = [(int(r[0]), r[1]) for r in cur.fetchall()]
    rng = random.Random(17)
    for mid, _ in markets:
        for j in range(rng.randint(1, 3)):
            cur.execute(f"INSERT INTO accounts (username, display_name, role, market_id, "
                        f"password_hash, created_at) VALUES ({mark}, {mark}, 'inspector', "
                        f"{mark}, 'unusable', '2024-01-01')",
                        (f"m{mid}-{j}", f"查验员{mid}-{j}", mid))  # fmt: skip
    cur.execute("SELECT id, market_id FROM accounts WHERE market_id IS NOT NULL")
    inspectors: dict[int, list[int]] = {}
    for aid, mid in cur.fetchall():
        inspectors.setdefault(int(mid), []).append(int(aid))
    checkins, reports = market_rows(certificates, markets, inspectors)
    tables = {
        "checkins": ("county, number, market_id, account_id, status, valid, mode, checked_at, "
                     "day", checkins),
        "uncertified_reports": ("market_id, account_id, product, quantity, supplier, "
                                "reported_at, day", reports),
    }  # fmt: skip
    for table, (columns, rows) in tables.items():
        if mark == "%s":
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns.split(",")))
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    conn.commit()  # type: ignore[attr-defined]
    conn.close()  # type: ignore[attr-defined]
    return len(checkins)


def fill_county(url: str, certificates: int, tests: int) -> float:
    """The county written straight into the projections (SQLite: executemany; PostgreSQL:
    COPY), then the rollups built by migration 0010's backfill; returns its seconds."""
    Database(url).close()  # the schema
    tables = county_rows(certificates, tests)
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            for table, (columns, rows) in tables.items():
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
    else:
        conn = sqlite3.connect(url)
        conn.execute("PRAGMA synchronous=OFF")
        for table, (columns, rows) in tables.items():
            marks = ", ".join("?" * len(columns.split(",")))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        conn.commit()
        conn.close()
    fill_markets(url, certificates)
    t = time.perf_counter()
    with Database(url) as db:
        rollups.rebuild(db)
        if db.dialect.placeholder == "%s":
            db.execute("ANALYZE")
        auth.add_account(db, auth.hasher(8192, 1, 1), "bench", PASSWORD, auth.Role.OFFICER)
    return time.perf_counter() - t


#: Pages without a window: drill-downs on indexed raw rows, lists with a row limit.
PAGES = [
    "/admin/fleet", "/admin/holds", "/admin/alarms", "/admin/kiosk/K007",
    "/admin/certificates?q=330100-K007-0000", "/admin/producer?key=tel:13800000042",
    "/admin/ledger", "/admin/grades",
    "/admin/samples",
]  # fmt: skip
#: Pages with a date window, each measured at every window of ``WINDOWS``.
WINDOW_PAGES = [
    "/admin/", "/admin/certificates", "/admin/certificates?township=" + quote("第3镇"),
    "/admin/tests",
    "/admin/markets",
]  # fmt: skip
WINDOWS = (7, 30, 90, 730)


def build_store(path: Path, certificates: int, tests: int) -> None:
    """The SQLite county store at ``path``, built once and kept (it takes minutes): a
    file beside it names the sizes it was built for."""
    sizes = path.with_suffix(".sizes")
    before = f"{certificates} {tests} {date.today().isoformat()} rollups-1"
    wanted = before + " markets-1"
    if path.exists() and sizes.exists() and sizes.read_text() == before:
        t = time.perf_counter()  # a store of an earlier bench, without market check-ins
        with Database(str(path)):  # the schema's newer migrations
            pass
        count = fill_markets(str(path), certificates)
        sizes.write_text(wanted)
        print(f"\ndashboard: {path} gained {count:,} market check-ins in "
              f"{time.perf_counter() - t:.0f} s")  # fmt: skip
    if path.exists() and sizes.exists() and sizes.read_text() == wanted:
        print(f"\ndashboard: reusing {path} ({path.stat().st_size / 1e9:.2f} GB SQLite)")
        return
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    t = time.perf_counter()
    backfill = fill_county(str(path), certificates, tests)
    sizes.write_text(wanted)
    print(f"\ndashboard: {certificates:,} certificates and {tests:,} rapid tests over two years "
          f"of 50 kiosks, filled in {time.perf_counter() - t:.0f} s, of which the rollup "
          f"backfill (migration 0010) {backfill:.0f} s ({path.stat().st_size / 1e9:.2f} GB "
          "SQLite)")  # fmt: skip


def build_postgres(certificates: int, tests: int) -> tuple[str, Callable[[], None]]:
    """A database of its own on the local PostgreSQL (tests/support/postgres.py's
    server) filled with COPY; returns its URL and what drops it. Not a schema in the
    shared test database: the backfill holds the store's migration lock (an advisory
    lock, database-wide) for minutes, and every test opening a store there would wait."""
    import psycopg

    server = "postgresql://postgres@127.0.0.1:5432"
    name = f"bench_dash_{os.getpid()}"
    admin = psycopg.connect(f"{server}/postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    url = f"{server}/{name}"

    def drop() -> None:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()

    t = time.perf_counter()
    try:
        backfill = fill_county(url, certificates, tests)
    except BaseException:
        drop()
        raise
    print(f"\ndashboard on PostgreSQL: {certificates:,} certificates and {tests:,} rapid tests, "
          f"filled with COPY in {time.perf_counter() - t:.0f} s, of which the rollup backfill "
          f"{backfill:.0f} s")  # fmt: skip
    return url, drop


def bench_dashboard(
    db_url: Path | str, folder: Path, runs: int, only: list[str] | None = None
) -> None:
    port = free_port()
    server = start_server(write_config(folder, db_url, port), port)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            page = client.get("/login").text
            marker = 'name="csrf" value="'
            token = page[page.index(marker) + len(marker) :].split('"', 1)[0]
            client.post("/login", data={"csrf": token, "username": "bench",
                                        "password": PASSWORD, "next": "/"})  # fmt: skip
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        load(port, ["/healthz"] * 20, 1)  # warm up
        base = load(port, ["/healthz"] * runs * 5, 1)
        show("/healthz (baseline)", base)
        print(f"  {'page':<52} {'p50':>9} {'p95':>9}  p95 / baseline p95  non-200")
        worst = (0.0, "")
        today = date.today()
        paths = list(PAGES)
        for days in WINDOWS:
            first = (today - timedelta(days=days - 1)).isoformat()
            for page in WINDOW_PAGES:
                sep = "&" if "?" in page else "?"
                paths.append(f"{page}{sep}from={first}&to={today.isoformat()}")
        paths += [f"/admin/statistics?period={today:%Y-%m}", f"/admin/statistics?period={today:%Y}"]
        for path in [p for p in paths if not only or any(o in p for o in only)]:
            load(port, [path], 1, cookie)  # first request (alarm book, caches) not counted
            r = load(port, [path] * runs, 1, cookie)
            worst = max(worst, (r["p95"], path))
            print(f"  {path:<52} {r['p50']:7.1f} ms {r['p95']:7.1f} ms  "
                  f"{r['p95'] / base['p95']:8.1f}x  {r['errors']:>9}")  # fmt: skip
        verdict = "met" if worst[0] <= 300 else "NOT met"
        print(f"  goal every page p95 <= 300 ms: {verdict} (worst {worst[0]:.0f} ms, {worst[1]}); "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan-certificates", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--certificates", type=int, default=3_000_000)
    parser.add_argument("--tests", type=int, default=500_000)
    parser.add_argument("--page-runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--skip-dashboard", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place the server")
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument(
        "--postgres", type=int, metavar="CERTIFICATES", default=0,
        help="also measure the dashboard on the local PostgreSQL with this many "
        "certificates (and a sixth as many rapid tests), filled with COPY",
    )  # fmt: skip
    parser.add_argument(
        "--store", type=Path, help="keep the dashboard's county store here and reuse it "
        "while its sizes match (building 3 million certificates takes minutes)",
    )  # fmt: skip
    parser.add_argument(
        "--only", action="append", metavar="TEXT",
        help="measure only the dashboard pages whose path holds TEXT (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.scan_certificates //= 5
        args.certificates //= 10
        args.tests //= 10
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        if not args.skip_scan:
            bench_scan(Path(tmp), args.scan_certificates, args.connections, pin=not args.no_pin)
        if not args.skip_dashboard:
            store = args.store or Path(tmp) / "county.db"
            build_store(store, args.certificates, args.tests)
            bench_dashboard(store, Path(tmp), args.page_runs, args.only)
        if args.postgres:
            url, drop = build_postgres(args.postgres, args.postgres // 6)
            try:
                bench_dashboard(url, Path(tmp), args.page_runs, args.only)
            finally:
                drop()


if __name__ == "__main__":
    main()
