"""How long one grading round takes (station/grading.py) for a county ledger of N
producers, on SQLite or PostgreSQL: ``python bench/bench_grading.py [N] [DB_URL]``.

The hold publisher grades every ``--grade-interval`` seconds; this says what that costs."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from station import grading
from station.db import Database
from station.web.store import transaction


def fill(db: Database, n: int) -> None:
    now = datetime.now(UTC).isoformat()
    with transaction(db):
        for i in range(n):
            pid = f"L{i:07d}"
            db.execute(
                "INSERT INTO ledger_producers (county, producer_id, name, kind, township, "
                "products, source, created_at) VALUES ('330100', ?, ?, '农户', '示范镇', '', "
                "'roster', ?)",
                [pid, f"主体{i}", now],
            )
            for ident in (f"producer_id:{pid}", f"phone:139{i:08d}"):
                db.execute(
                    "INSERT INTO producer_identifiers (county, producer_id, identifier) "
                    "VALUES ('330100', ?, ?)",
                    [pid, ident],
                )
            if i % 50 == 0:  # 2 % of producers with a confirmed positive
                db.execute(
                    "INSERT INTO holds (county, device, hold_id, producer_key, product_code, "
                    "reason, placed_at) VALUES ('330100', 'K001', ?, ?, 'V001', 'x', ?)",
                    [i + 1, f"tel:139{i:08d}", now],
                )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    url = sys.argv[2] if len(sys.argv) > 2 else str(Path(tempfile.mkdtemp()) / "county.db")
    with Database(url) as db:
        fill(db, n)
        started = time.perf_counter()
        rows = grading.compute(db, "330100", grading.GradingRules(), datetime.now(UTC))
        took = time.perf_counter() - started
    red = sum(r.grade == "red" for r in rows)
    print(f"{n} producers graded in {took:.2f} s ({red} red) on {url.split(':')[0]}")


if __name__ == "__main__":
    main()
