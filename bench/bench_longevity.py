"""Two busy years at one kiosk: how the kiosk behaves on a database that has lived.

    .venv/bin/python bench/bench_longevity.py [--certificates 300000] [--runs 50000]

Builds a kiosk database holding two years of records (300,000 certificates with their
print jobs and hash-chained audit entries, 50,000 rapid-test runs with samples and
results, the outbox as the uplink's purge leaves it: only the last `retention_days` of
acknowledged events) with bulk SQL inserts shaped like the rows real issue() calls
write (three real certificates are issued first and serve as templates). Then it
measures, against an empty kiosk in the same run:

1. the issue pipeline (validate, commit with synchronous=FULL, sign, lay out, encode):
   p50/p95 over `--issues` certificates (goal p95 <= 10 ms, and as on an empty database);
2. cold start of the touch UI (`kiosk run`) to its first frame in a fresh process,
   the median of five (goal <= 1 s), SDL_VIDEODRIVER=dummy, as bench/bench_ui.py:
   the CLI's imports, the composition and the first frame (not the reader, which
   `kiosk run` opens first);
3. `kiosk certificates list` (the service call and the whole CLI process), the
   unprinted list the kiosk resumes from, and a month's CSV export;
4. an online backup (kiosk/infra/backup.py) and its restore;
5. the database size, and the query plans of the statements above.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_issuance import open_bench_kiosk, request  # noqa: E402

from kiosk.domain.model import CertificateStatus  # noqa: E402
from kiosk.infra.audit import entry_hash  # noqa: E402
from kiosk.infra.backup import create_backup, restore_backup  # noqa: E402

CST = timedelta(hours=8)
PROFILE = ("tspl-60x40", "label-60x40")
RETENTION_DAYS = 30  # kiosk/config.py uplink.retention_days default
BATCH = 20_000

COLD_START = r"""
import os, sys, time, json
t0 = float(sys.argv[1]); data = sys.argv[2]
sys.path.insert(0, os.getcwd())
from pathlib import Path
import app.cli  # what `kiosk run` imports before it composes the kiosk
from app.compose import hardware_desk, open_kiosk
from kiosk.config import load_config
from ui.loop import App
kiosk = open_kiosk(load_config(None, data_dir=Path(data)))
app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
app.render()
print(json.dumps({"first_frame_s": time.time() - t0}))
app.close(); kiosk.close()
"""


def _batches(rows: Iterator[tuple], size: int = BATCH) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: sqlite3.Connection, table: str, columns: list[str], rows: Iterator[tuple]) -> int:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    n = 0
    for batch in _batches(rows):
        conn.executemany(sql, batch)
        n += len(batch)
    return n


def build(data: Path, certificates: int, runs: int, seed: int = 1) -> dict[str, float]:
    """A kiosk data directory holding two busy years; returns build figures."""
    t0 = time.perf_counter()
    with open_bench_kiosk(data, *PROFILE) as k:
        for i in range(3):  # real rows to copy the shape of
            k.issuance.issue(request(i))
    db = data / "kiosk.db"
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    cert_t = dict(conn.execute("SELECT * FROM certificates ORDER BY seq LIMIT 1").fetchone())
    job_t = dict(conn.execute("SELECT * FROM print_jobs ORDER BY id LIMIT 1").fetchone())
    audit_t = dict(conn.execute("SELECT * FROM audit_log ORDER BY seq LIMIT 1").fetchone())
    events = [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY seq LIMIT 2")]
    first_seq = conn.execute("SELECT max(seq) FROM certificates").fetchone()[0] + 1
    audit_seq, prev_hash = conn.execute(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    conn.row_factory = None
    conn.execute("PRAGMA synchronous=OFF")
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=730)
    span = (now - start).total_seconds()
    producers = [f"tel:139{rng.randrange(10**8):08d}" for _ in range(2500)]
    products = ["V001", "V002", "V003", "F001", "F002", "M001", "E001", "A001"]
    prefix = cert_t["number"].rsplit("-", 1)[0]

    def times(n: int) -> list[datetime]:
        """n issue times over two years, in order, within opening hours (China time)."""
        out = []
        for i in range(n):
            t = start + timedelta(seconds=span * (i + rng.random()) / n)
            local = t + CST
            if not 7 <= local.hour < 18:
                t = t.replace(hour=(rng.randrange(7, 18) - 8) % 24)
            out.append(t)
        out.sort()
        return out

    cert_times = times(certificates)
    cert_cols = list(cert_t)
    job_cols = [c for c in job_t if c != "id"]

    def cert_rows() -> Iterator[tuple]:
        for i, t in enumerate(cert_times):
            seq = first_seq + i
            row = dict(cert_t)
            voided = rng.random() < 0.004
            row.update(
                number=f"{prefix}-{seq:07d}",
                seq=seq,
                issued_at=(t + CST).replace(tzinfo=None).isoformat() + "+08:00",
                product_code=rng.choice(products),
                quantity=f"{rng.randrange(1, 500)}.{rng.randrange(10)}",
                issuer_phone=producers[i % len(producers)][4:],
                producer_key=producers[rng.randrange(len(producers))],
                status="voided" if voided else "printed",
                voided_at=(t + timedelta(minutes=5)).isoformat() if voided else None,
                void_reason="填错数量" if voided else None,
                test_ref=f"RT-K001-{rng.randrange(runs or 1):06d}",
            )
            yield tuple(row[c] for c in cert_cols)

    def job_rows() -> Iterator[tuple]:
        for i, t in enumerate(cert_times):
            row = dict(job_t)
            row.update(
                certificate_number=f"{prefix}-{first_seq + i:07d}",
                created_at=t.isoformat(),
                finished_at=(t + timedelta(seconds=4)).isoformat(),
            )
            yield tuple(row[c] for c in job_cols)

    def audit_rows() -> Iterator[tuple]:
        nonlocal prev_hash
        data_t = json.loads(audit_t["data"])
        for i, t in enumerate(cert_times):
            seq = audit_seq + 1 + i
            data = {
                **data_t,
                **({"number": f"{prefix}-{first_seq + i:07d}"} if "number" in data_t else {}),
            }
            text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            at = t.isoformat()
            digest = entry_hash(prev_hash, seq, at, audit_t["kind"], text)
            yield (seq, at, audit_t["kind"], text, prev_hash, digest)
            prev_hash = digest

    event_base = conn.execute("SELECT value FROM counters WHERE name = 'event_seq'").fetchone()[0]

    def outbox_rows() -> Iterator[tuple]:
        cutoff = now - timedelta(days=RETENTION_DAYS)
        cols = list(events[0])
        for i, t in enumerate(cert_times):
            if t < cutoff:
                continue  # purged by the uplink once acknowledged and older than retention
            for k, ev in enumerate(events):
                row = dict(ev)
                eid = str(uuid.uuid4())
                row.update(
                    seq=event_base + 1 + len(events) * i + k,
                    event_id=eid,
                    body=row["body"].replace(ev["event_id"], eid),
                    created_at=t.isoformat(),
                    state="acked",
                    sent_at=t.isoformat(),
                    acked_at=(t + timedelta(seconds=1)).isoformat(),
                )
                yield tuple(row[c] for c in cols)

    run_times = times(runs)
    curve = {str(ch): [rng.randrange(300_000, 900_000) for _ in range(13)] for ch in range(12)}
    raw_json = json.dumps({"kind": "enzyme", "curves": curve, "temps": [24.9] * 13})
    method_json = json.dumps(
        {
            "id": "enzyme-op-carbamate",
            "kind": "enzyme",
            "analytes": ["organophosphate", "carbamate"],
            "duration_s": 180,
            "interval_s": 15,
            "threshold_percent": 50,
            "standard": "GB/T 5009.199-2003",
            "note": "酶抑制率法 " * 10,
        },
        ensure_ascii=False,
    )

    def sample_rows() -> Iterator[tuple]:
        for i, t in enumerate(run_times):
            p = producers[rng.randrange(len(producers))]
            yield (f"S{i:07d}", p, "示范户", p[4:], rng.choice(products), "[]", "", t.isoformat())

    def run_rows() -> Iterator[tuple]:
        for i, t in enumerate(run_times):
            done = (t + timedelta(minutes=4)).isoformat()
            yield (f"RUN{i:07d}", "enzyme-op-carbamate", "enzyme", method_json, "AQR12-0001",
                   "1.0.0", i & 0x7FFF, 0, "done", None, raw_json, t.isoformat(), done)  # fmt: skip

    def result_rows() -> Iterator[tuple]:
        for i, t in enumerate(run_times):
            verdict = "positive" if rng.random() < 0.01 else "negative"
            done = (t + timedelta(minutes=4)).isoformat()
            yield (f"RT-K001-{i:06d}", f"RUN{i:07d}", f"S{i:07d}", "enzyme-op-carbamate",
                   "organophosphate", 1, "3", round(rng.uniform(0, 80), 1), "%", verdict,
                   verdict, "final", None, None, '{"delta_a": 0.412}', None,
                   t.isoformat(), done)  # fmt: skip

    counts = {}
    with conn:
        counts["certificates"] = _insert(conn, "certificates", cert_cols, cert_rows())
        counts["print_jobs"] = _insert(conn, "print_jobs", job_cols, job_rows())
        counts["audit_log"] = _insert(
            conn, "audit_log", ["seq", "at", "kind", "data", "prev_hash", "hash"], audit_rows()
        )
        counts["outbox"] = _insert(conn, "outbox", list(events[0]), outbox_rows())
        counts["rapid_samples"] = _insert(
            conn,
            "rapid_samples",
            [
                "sample_id",
                "producer_key",
                "producer_name",
                "phone",
                "product_code",
                "inputs_used",
                "note",
                "registered_at",
            ],
            sample_rows(),
        )
        counts["rapid_runs"] = _insert(
            conn,
            "rapid_runs",
            [
                "run_key",
                "method_id",
                "kind",
                "method_json",
                "reader_serial",
                "reader_firmware",
                "reader_run_id",
                "control_channel",
                "state",
                "error",
                "raw_json",
                "started_at",
                "finished_at",
            ],
            run_rows(),
        )
        counts["rapid_results"] = _insert(
            conn,
            "rapid_results",
            [
                "test_id",
                "run_key",
                "sample_id",
                "method_id",
                "analyte",
                "portion",
                "channel",
                "value",
                "unit",
                "reading",
                "verdict",
                "status",
                "reason",
                "advice",
                "detail_json",
                "retest_of",
                "started_at",
                "finished_at",
            ],
            result_rows(),
        )
        last = first_seq + certificates - 1
        conn.execute("UPDATE counters SET value = ? WHERE name = 'certificate_seq'", [last])
        conn.execute(
            "UPDATE counters SET value = ? WHERE name = 'event_seq'",
            [event_base + len(events) * certificates],
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    (data / "certificate-counter.floor").write_text(f"{last}\n")
    counts["build_s"] = time.perf_counter() - t0
    return counts


def issue_times(data: Path, n: int) -> list[float]:
    with open_bench_kiosk(data, *PROFILE) as k:
        k.issuance.issue(request(0))  # warm caches (fonts, QR tables)
        times = []
        for i in range(1, n + 1):
            t = time.perf_counter()
            k.issuance.issue(request(i))
            times.append((time.perf_counter() - t) * 1000)
    return sorted(times)


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(0.95 * len(values)) - 1)]


def cold_start(data: Path) -> float:
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", COLD_START, repr(t0), str(data)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])["first_frame_s"]


def timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median wall time of `fn` in ms, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def cli_ms(data: Path, *args: str) -> float:
    kiosk_cmd = Path(sys.executable).with_name("kiosk")
    t = time.perf_counter()
    subprocess.run(
        [str(kiosk_cmd), "--data-dir", str(data), *args],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    return (time.perf_counter() - t) * 1000


def queries(data: Path) -> dict[str, float]:
    """Service calls as the CLI and the UI make them, on one open kiosk."""
    out: dict[str, float] = {}
    with open_bench_kiosk(data, *PROFILE) as k:
        svc = k.issuance
        out["list_50_ms"], _ = timed(lambda: svc.list(limit=50))
        out["list_voided_50_ms"], _ = timed(
            lambda: svc.list(status=CertificateStatus.VOIDED, limit=50)
        )
        out["unprinted_ms"], _ = timed(svc.unprinted)
        newest = svc.list(limit=1)
        until = newest[0].issued_at if newest else datetime.now(UTC)
        since = until - timedelta(days=30)

        def export() -> int:
            buf = io.StringIO()
            return svc.export_csv(buf, svc.list(since=since, until=until))

        out["export_month_ms"], rows = timed(export, repeat=3)
        out["export_month_rows"] = float(rows)  # type: ignore[arg-type]
    return out


def plans(db: Path) -> list[str]:
    """Query plans of the statements timed above (a SCAN of a big table is the tell)."""
    conn = sqlite3.connect(db)
    month = ("2026-01-01", "2026-02-01")
    statements = [
        ("list", "SELECT * FROM certificates ORDER BY seq DESC LIMIT 50", []),
        (
            "list voided",
            "SELECT * FROM certificates WHERE status = ? ORDER BY seq DESC LIMIT 50",
            ["voided"],
        ),
        (
            "unprinted",
            "SELECT * FROM certificates WHERE status = ? ORDER BY seq DESC",
            ["issued"],
        ),
        (
            "export",
            "SELECT * FROM certificates WHERE issued_at >= ? AND issued_at < ? ORDER BY seq DESC",
            list(month),
        ),
        ("recent samples", "SELECT * FROM rapid_samples ORDER BY registered_at DESC LIMIT 5", []),
        (
            "recent results",
            "SELECT * FROM rapid_results ORDER BY finished_at DESC, test_id DESC LIMIT 20",
            [],
        ),
    ]
    out = []
    for name, sql, args in statements:
        detail = "; ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        out.append(f"  {name:15s} {detail}")
    conn.close()
    return out


def backup_restore(data: Path, work: Path) -> dict[str, float]:
    t = time.perf_counter()
    path = create_backup(data, work / "backups")
    backup_s = time.perf_counter() - t
    target = work / "restored"
    shutil.copytree(data, target)  # restore replaces a live kiosk's database
    t = time.perf_counter()
    restore_backup(path, target)
    return {
        "backup_s": backup_s,
        "restore_s": time.perf_counter() - t,
        "backup_mb": path.stat().st_size / 1e6,
    }


def db_size_mb(data: Path) -> float:
    return sum(p.stat().st_size for p in data.glob("kiosk.db*")) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--certificates", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=50_000)
    ap.add_argument("--issues", type=int, default=300)
    ap.add_argument("--keep", type=Path, help="build the big database here and keep it")
    ap.add_argument("--reuse", action="store_true", help="measure the database already in --keep")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        empty, big = work / "empty", a.keep or work / "big"
        if not (a.reuse and (big / "kiosk.db").exists()):
            if big.exists():
                shutil.rmtree(big)
            built = build(big, a.certificates, a.runs)
            print(
                f"built two years in {built['build_s']:.1f} s: "
                + ", ".join(f"{k} {int(v):,}" for k, v in built.items() if k != "build_s")
            )
        size_before = db_size_mb(big)
        for d in (empty, big):  # creates the empty one; migrates a reused one
            with open_bench_kiosk(d, *PROFILE):
                pass
        for name, d in (("empty", empty), ("two years", big)):
            print(f"{name}: database {db_size_mb(d):.1f} MB")
        print("query plans on the two-year database:")
        print("\n".join(plans(big / "kiosk.db")))

        # Five cold starts each, alternating, and their median: one start is at the
        # mercy of whatever else the machine does in that second.
        starts: dict[str, list[float]] = {"empty": [], "two years": []}
        for _ in range(5):
            for name, d in (("empty", empty), ("two years", big)):
                starts[name].append(cold_start(d))
        first = {name: statistics.median(v) for name, v in starts.items()}
        issue = {name: issue_times(d, a.issues) for name, d in (("empty", empty), ("big", big))}
        q = {name: queries(d) for name, d in (("empty", empty), ("big", big))}
        cli = {
            name: (cli_ms(d, "certificates", "list"), cli_ms(d, "certificates", "list"))
            for name, d in (("empty", empty), ("big", big))
        }
        br = backup_restore(big, work)

        e, b = issue["empty"], issue["big"]
        print(
            f"issue pipeline, {a.issues} certificates: empty p50 {statistics.median(e):.1f} ms "
            f"p95 {p95(e):.1f} ms; two years p50 {statistics.median(b):.1f} ms "
            f"p95 {p95(b):.1f} ms (goal <= 10 ms); ratio {p95(b) / p95(e):.2f}"
        )
        print(
            f"cold start to first frame (median of 5): empty {first['empty']:.2f} s, two years "
            f"{first['two years']:.2f} s (goal <= 1 s); two years "
            + " ".join(f"{x:.2f}" for x in starts["two years"])
        )
        for key, label in (
            ("list_50_ms", "certificates list (50, service)"),
            ("list_voided_50_ms", "certificates list --status voided (50)"),
            ("unprinted_ms", "unprinted certificates (resume after restart)"),
            ("export_month_ms", "export of a month (CSV)"),
        ):
            print(f"{label}: empty {q['empty'][key]:.1f} ms, two years {q['big'][key]:.1f} ms")
        print(f"  (the month holds {int(q['big']['export_month_rows']):,} certificates)")
        print(
            f"`kiosk certificates list` process: empty {min(cli['empty']):.0f} ms, "
            f"two years {min(cli['big']):.0f} ms"
        )
        print(
            f"online backup {br['backup_s']:.2f} s ({br['backup_mb']:.1f} MB file), "
            f"restore {br['restore_s']:.2f} s"
        )
        print(f"database size: {size_before:.1f} MB for two years")


if __name__ == "__main__":
    main()
