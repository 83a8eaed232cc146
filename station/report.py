"""County reports: certificates per township/product/day, rapid-test pass rates, open holds."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from station.db import SAMPLE_KEY, Database
from station.spreadsheet import inert


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def certificates_by_day(db: Database) -> Table:
    rows = db.query(
        "SELECT c.township, c.product_code, c.product_name, c.day, count(*), "
        "  sum(CASE WHEN v.number IS NULL THEN 0 ELSE 1 END) "
        "FROM certificates c LEFT JOIN certificate_voids v "
        "  ON v.county = c.county AND v.number = c.number "
        "GROUP BY c.township, c.product_code, c.product_name, c.day "
        "ORDER BY c.day, c.township, c.product_code"
    )
    return Table(
        "certificates per township, product and day",
        ("township", "product_code", "product", "day", "issued", "voided"),
        rows,
    )


def rapid_tests(db: Database) -> Table:
    """Per township, method and product: samples, batches, positive samples and the pass
    rate per sample (samples with a negative and no positive / samples with a valid
    result); runs are shown but are not the denominator (re-tests are not samples)."""
    rows = db.query(
        "WITH per_sample AS ("
        "  SELECT coalesce(d.township, '（未登记）') AS township, t.method, t.product_code, "
        f"   {SAMPLE_KEY} AS sample, max(t.batch_id) AS batch, count(*) AS runs, "
        "    max(CASE WHEN t.verdict = 'positive' THEN 1 ELSE 0 END) AS positive, "
        "    max(CASE WHEN t.verdict = 'negative' THEN 1 ELSE 0 END) AS negative, "
        "    max(CASE WHEN t.verdict <> 'invalid' THEN 1 ELSE 0 END) AS valid "
        "  FROM rapid_tests t LEFT JOIN devices d ON d.county = t.county "
        "  AND d.device_id = t.device "
        "  GROUP BY coalesce(d.township, '（未登记）'), t.method, t.product_code, "
        f"   {SAMPLE_KEY}) "
        "SELECT township, method, product_code, sum(runs), count(*), count(DISTINCT batch), "
        "  sum(positive), sum(CASE WHEN negative = 1 AND positive = 0 THEN 1 ELSE 0 END), "
        "  sum(valid) "
        "FROM per_sample GROUP BY township, method, product_code "
        "ORDER BY township, method, product_code"
    )
    out = []
    for township, method, product, runs, samples, batches, pos, passed, valid in rows:
        rate = f"{100.0 * int(passed) / int(valid):.1f}%" if valid else "-"
        out.append((township, method, product, int(runs), int(samples), int(batches),
                    int(pos), int(passed), rate))  # fmt: skip
    return Table(
        "rapid tests per township, method and product (per sample)",
        ("township", "method", "product_code", "runs", "samples", "batches",
         "positive_samples", "passed_samples", "pass_rate"),
        out,
    )  # fmt: skip


def open_holds(db: Database) -> Table:
    rows = db.query(
        "SELECT h.county, h.device, h.hold_id, h.producer_key, h.product_code, h.reason, "
        "  h.placed_at FROM holds h WHERE NOT EXISTS (SELECT 1 FROM hold_lifts l "
        "  WHERE l.county = h.county AND l.device = h.device AND l.hold_id = h.hold_id) "
        "ORDER BY h.placed_at"
    )
    return Table(
        "open holds",
        ("county", "device", "hold_id", "producer_key", "product_code", "reason", "placed_at"),
        rows,
    )


def sequence_gaps(db: Database) -> Table:
    return Table(
        "sequence gaps",
        ("county", "device", "first_missing", "last_missing"),
        [(g.county, g.device, g.first, g.last) for g in db.gaps()],
    )


def quarantine_summary(db: Database) -> Table:
    rows = db.query(
        "SELECT topic, reason, size, received_at FROM quarantine ORDER BY id DESC LIMIT 50"
    )
    return Table("quarantine (latest 50)", ("topic", "reason", "bytes", "received_at"), rows)


SECTIONS = {
    "certificates": certificates_by_day,
    "rapidtests": rapid_tests,
    "holds": open_holds,
    "gaps": sequence_gaps,
    "quarantine": quarantine_summary,
}


def _display_width(text: str) -> int:
    """CJK characters take two terminal columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def render_text(tables: Sequence[Table]) -> str:
    parts = []
    for table in tables:
        body = [["" if v is None else str(v) for v in r] for r in table.rows]
        cells = [list(table.columns), *body]
        widths = [max(_display_width(row[i]) for row in cells) for i in range(len(table.columns))]
        lines = [f"== {table.title} ({len(table.rows)}) =="]
        for n, row in enumerate(cells):
            padded = (v + " " * (w - _display_width(v)) for v, w in zip(row, widths, strict=True))
            lines.append("  ".join(padded).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_csv(tables: Sequence[Table]) -> str:
    """One CSV block per table, each headed by a ``# title`` line; text cells a
    spreadsheet would run as a formula are made inert (``station/spreadsheet.py``)."""
    buf = io.StringIO()
    # CRLF rows (RFC 4180): with "\n" alone the csv module leaves a CR inside a cell
    # unquoted, and that CR starts a new row in a spreadsheet.
    writer = csv.writer(buf, lineterminator="\r\n")
    for table in tables:
        buf.write(f"# {table.title}\n")
        writer.writerow(table.columns)
        writer.writerows([inert(v) for v in row] for row in table.rows)
    return buf.getvalue()
