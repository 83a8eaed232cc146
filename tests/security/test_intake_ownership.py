"""A kiosk speaks only for its own records (red-team finding after issue 11).

The envelope was bound to the topic, but not the certificate number inside it: the
K002 account stored ``certificate.voided`` for K001's genuine certificates (the scan
page then said 已作废) and could take K001's future numbers first, since the store keeps
the first record of a number. Sent through a real Mosquitto to a real collector, each
such event is now quarantined with its reason, and K001's own event is stored."""

from __future__ import annotations

import json

import pytest
from support.uplink import collector_settings, sample, wait_until

from station.collector import Collector
from station.db import Database

from .intake_rig import envelope

K002 = "agriqs/v1/330100/K002/evt/"
K001 = "agriqs/v1/330100/K001/evt/"
KINDS = {
    "certificate.issued": "certificate",
    "certificate.printed": "certificate",
    "certificate.reprinted": "certificate",
    "certificate.voided": "certificate",
    "rapidtest.result": "rapidtest",
}


@pytest.mark.parametrize("schema", sorted(KINDS))
def test_another_kiosks_number_is_quarantined(schema, tmp_path, broker_factory, publisher):
    _, k001_data = sample(schema, 1, "K001")
    field = "test_id" if schema == "rapidtest.result" else "number"
    forged = envelope(schema, 5, "K002", **{field: k001_data[field]})
    own = envelope(schema, 1, "K001")
    broker = broker_factory()
    with Collector(collector_settings(broker.port), str(tmp_path / "s.db")) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        pub.send(K002 + KINDS[schema], json.dumps(forged).encode())
        pub.send(K001 + KINDS[schema], json.dumps(own).encode())
        wait_until(lambda: collector.stats().received >= 2, 15, "both messages")
        stats = collector.stats()
        assert (stats.quarantined, stats.stored) == (1, 1), stats
    with Database(tmp_path / "s.db") as db:
        (reason,) = db.query("SELECT reason FROM quarantine")[0]
        assert "is not 330100/K002's" in reason, reason
        assert db.query("SELECT event_id FROM events") == [("K001:1",)]


def test_a_style2_may_cite_another_kiosks_certificate(tmp_path, broker_factory, publisher):
    """Citing is not owning: a buyer's 样式二 at K002 names K001's certificate as a source."""
    _, source = sample("certificate.issued", 1, "K001")
    issued = envelope("certificate.issued", 7, "K002")
    issued["data"]["source_certificate"] = source["number"]
    broker = broker_factory()
    with Collector(collector_settings(broker.port), str(tmp_path / "s.db")) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        publisher(broker.port).send(K002 + "certificate", json.dumps(issued).encode())
        wait_until(lambda: collector.stats().received >= 1, 15, "the message")
        stats = collector.stats()
        assert (stats.quarantined, stats.stored) == (0, 1), stats
