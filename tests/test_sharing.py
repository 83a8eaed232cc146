"""The sharing exporter against a real local HTTP server that fails and recovers: 503s,
a lost answer after the receiver stored the batch, a refused batch dead-lettered and
retried by an officer. Every record reaches the receiver exactly once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.enforcement import county_url  # noqa: F401  (fixture)
from support.provisioning import now
from support.web import County

from station import sharing
from station.web import auth
from station.web.auth import Role
from station.web.store import transaction


class Receiver:
    """A provincial platform stand-in: stores batches once per Idempotency-Key and
    misbehaves as scripted (``plan``: 'ok', '503', 'drop' = store then hang up, '400')."""

    def __init__(self) -> None:
        self.plan: list[str] = []
        self.by_key: dict[str, list[str]] = {}
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                step = receiver.plan.pop(0) if receiver.plan else "ok"
                if step == "503":
                    self.send_error(503, "maintenance")
                    return
                if step == "400":
                    self.send_error(400, "schema not accepted")
                    return
                key = self.headers["Idempotency-Key"]
                ids = [json.loads(line)["id"] for line in body.decode().splitlines()]
                receiver.by_key.setdefault(key, ids)  # a repeated key changes nothing
                if step == "drop":  # stored, but the answer is lost
                    self.connection.close()
                    return
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/agriqs/ingest"

    def delivered(self) -> list[str]:
        return [i for ids in self.by_key.values() for i in ids]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def populate(c: County) -> None:
    c.kiosk("K001")
    for n in range(1, 6):
        c.certificate("K001", n)
    c.void("K001", 2)
    c.hold("K001", 1)
    market = auth.add_market(c.db, "330100", "城东农贸市场", "示范镇")
    ph = auth.hasher(8192, 1, 1)
    account = auth.add_account(c.db, ph, "i-1", "x" * 12, Role.INSPECTOR, display_name="i",
                               market_id=market)  # fmt: skip
    c.db.execute(
        "INSERT INTO checkins (county, number, market_id, account_id, status, valid, mode, "
        "checked_at, day) VALUES ('330100', '330100-K001-0000001', ?, ?, 'valid', 1, 'desk', "
        "'2026-11-28T09:00:00+08:00', '2026-11-28')",
        [market, account],
    )
    c.db.conn.commit()  # PostgreSQL: execute() alone does not commit


def test_exactly_once_across_a_receiver_outage_and_a_lost_answer(county_url, receiver) -> None:  # noqa: F811
    c = County(county_url)
    try:
        populate(c)
        at = now()
        staged = sharing.stage(c.db, "330100", at)
        assert staged == 8  # 5 issued, 1 void, 1 kiosk hold, 1 check-in
        assert sharing.stage(c.db, "330100", at) == 0  # staging twice adds nothing
        settings = sharing.PushSettings(receiver.url, token="t0ken", batch_size=4,
                                        backoff_min_s=1, timeout_s=5)  # fmt: skip
        receiver.plan = ["503", "503", "drop", "ok", "drop"]
        for step in range(40):
            sharing.push_once(c.db, "330100", settings, at + timedelta(minutes=step))
            if sharing.status(c.db, "330100") == {"sent": staged}:
                break
        assert sharing.status(c.db, "330100") == {"sent": staged}
        delivered = receiver.delivered()
        assert len(delivered) == len(set(delivered)) == staged  # each record exactly once
        assert receiver.posts > len(receiver.by_key)  # retries happened, under the same keys
        lines = sharing.export_lines(c.db, "330100", "certificates")
        kinds = [json.loads(line)["kind"] for line in lines]
        assert kinds.count("certificate.issued") == 5 and kinds.count("certificate.voided") == 1
        assert all(json.loads(line)["version"] == sharing.SCHEMA_VERSION for line in lines)
        assert sharing.to_csv(lines).splitlines()[0] == ",".join(sharing.CSV_HEAD)

        # A batch the receiver refuses is dead-lettered with the reason; an officer retries.
        c.certificate("K001", 6)
        assert sharing.stage(c.db, "330100", at) == 1
        receiver.plan = ["400"]
        outcome = sharing.push_once(c.db, "330100", settings, at + timedelta(hours=2))
        assert outcome.dead == 1 and sharing.status(c.db, "330100")["dead"] == 1
        (error,) = c.db.query("SELECT last_error FROM share_outbox WHERE state = 'dead'")
        assert "HTTP 400" in error[0]
        assert sharing.requeue_dead(c.db, "330100", at + timedelta(hours=3)) == 1
        sharing.push_once(c.db, "330100", settings, at + timedelta(hours=3))
        assert sharing.status(c.db, "330100") == {"sent": staged + 1}
        assert len(receiver.delivered()) == len(set(receiver.delivered())) == staged + 1
    finally:
        c.close()


def test_plain_http_is_refused_outside_loopback() -> None:
    with pytest.raises(sharing.ShareError, match="https"):
        sharing.PushSettings("http://platform.example.gov.cn/ingest")
    assert sharing.PushSettings("https://platform.example.gov.cn/ingest")


def test_county_holds_and_samples_are_shared(county_url) -> None:  # noqa: F811
    from station import holds as county_holds

    c = County(county_url)
    try:
        populate(c)
        with transaction(c.db):
            county_holds.place_hold(c.db, "330100", identifiers=["phone:13812345678"],
                                    product_code="V001", reason="抽检不合格", source="officer",
                                    placed_by="officer-1", now=now())  # fmt: skip
        sharing.stage(c.db, "330100", now())
        ids = [json.loads(x)["id"] for x in sharing.export_lines(c.db, "330100", "holds")]
        assert "hold:H000001:placed" in ids
    finally:
        c.close()
