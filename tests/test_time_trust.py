"""Trustworthy time (issue 18 item 1): the floor, the county's signed beacon, and the
synchronisation state decide whether the clock may date a certificate.

Real parts: the kiosk's SQLite store and floor file, a real Mosquitto with the deployed
ACL carrying the station's beacon to the agent's provisioning listener, and a real
``kiosk`` process under Debian's ``faketime``. The synchronisation state and the boot
come through the ``TimeSource`` seam, the wall clock through the services' clock.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support.kiosk import configured, request
from support.mqtt_broker import broker_factory  # noqa: F401  (fixture)
from support.provisioning import COUNTY_KEY, enrolled_config, headless_listener
from support.uplink import deploy_acl, wait_until

from app.cli import EXIT_REFUSED
from app.compose import open_kiosk, time_trust
from kiosk.config import effective_config
from kiosk.infra.timetrust import (
    DB_FLOOR,
    FILE_FLOOR_STEP_S,
    FLOOR_FILE,
    SimulatedTimeSource,
    TimeSettings,
    TimeTrust,
    parse_chrony,
    parse_timedatectl,
)
from kiosk.services.issuance import IssuanceRefused
from station.timebeacon import TimeBeaconPublisher
from wire.clock import CST
from wire.mqtt import BrokerError, BrokerSettings, close, connect
from wire.signing import SigningKey
from wire.timebeacon import TimeBeacon, TimeBeaconError, parse_time_beacon
from wire.topics import time_topic

ANCHORS = [COUNTY_KEY.public_bytes]
PLAIN = "时间未校准，请联系工作人员"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=CST)


class Clock:
    """The services' wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Boot:
    """The seam's boot: an id and seconds since boot, moved by the test."""

    def __init__(self, boot_id: str = "boot-1", uptime: float = 60.0) -> None:
        self.boot_id, self.uptime = boot_id, uptime

    def __call__(self) -> tuple[str, float]:
        return self.boot_id, self.uptime


def controlled(kiosk, boot: Boot) -> SimulatedTimeSource:
    """Swap the kiosk's time source for one whose boot the test moves."""
    judge = kiosk.issuance.time_trust
    source = SimulatedTimeSource(judge.path.with_name("time-sim.json"), boot=boot)
    judge.source = source
    judge._status = None
    return source


def refusal(kiosk) -> IssuanceRefused | None:
    try:
        kiosk.issuance.check(request())
    except IssuanceRefused as error:
        return error
    return None


# ---- the OS's answer ---------------------------------------------------------------------


def test_timesyncd_and_chrony_answers_are_read() -> None:
    shown = "Timezone=Asia/Shanghai\nLocalRTC=no\nCanNTP=yes\nNTP=yes\nNTPSynchronized=no\n"
    assert parse_timedatectl(shown) is False
    assert parse_timedatectl(shown.replace("Synchronized=no", "Synchronized=yes")) is True
    assert parse_timedatectl("garbage") is None
    tracking = (
        "Reference ID    : C0A80101 (192.168.1.1)\nStratum         : 3\n"
        "System time     : 0.000012 seconds fast of NTP time\nLeap status     : Normal\n"
    )
    assert parse_chrony(tracking) is True
    assert parse_chrony(tracking.replace("Normal", "Not synchronised")) is False
    assert parse_chrony("506 Cannot talk to daemon") is None


# ---- the beacon: attacks first -----------------------------------------------------------


def test_a_forged_altered_or_foreign_beacon_is_refused() -> None:
    beacon = TimeBeacon("330100", T0, 60)
    with pytest.raises(TimeBeaconError, match="signature"):
        parse_time_beacon(beacon.sign(SigningKey.generate()), ANCHORS, "330100")
    document = beacon.sign(COUNTY_KEY)
    body = json.loads(document["body"])
    body["issued_at"] = (T0 + timedelta(days=30)).isoformat()  # push every floor ahead
    document["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    with pytest.raises(TimeBeaconError, match="signature"):
        parse_time_beacon(document, ANCHORS, "330100")
    other = TimeBeacon("330200", T0, 60).sign(COUNTY_KEY)
    with pytest.raises(TimeBeaconError, match="county"):
        parse_time_beacon(other, ANCHORS, "330100")
    assert parse_time_beacon(beacon.sign(COUNTY_KEY), ANCHORS, "330100").issued_at == T0


def test_a_replayed_beacon_moves_the_floor_neither_back_nor_forward(tmp_path: Path) -> None:
    boot = Boot()
    judge = TimeTrust(tmp_path, SimulatedTimeSource(tmp_path / "sim.json", boot=boot))
    assert judge.accept_beacon(TimeBeacon("330100", T0, 60), live=True)
    assert judge.floor() == T0
    # An older beacon (recorded and replayed) is refused: the floor stays.
    assert not judge.accept_beacon(TimeBeacon("330100", T0 - timedelta(days=3), 60), live=True)
    assert not judge.accept_beacon(TimeBeacon("330100", T0, 60), live=True)  # same one again
    assert judge.floor() == T0
    assert judge.state()["beacon"]["issued_at"] == T0.isoformat()
    later = T0 + timedelta(minutes=1)
    assert judge.accept_beacon(TimeBeacon("330100", later, 60), live=True)
    assert judge.floor() == later
    mode = stat.S_IMODE((tmp_path / FLOOR_FILE).stat().st_mode)
    assert mode == 0o600


# ---- the verdict, end to end in the services -----------------------------------------------


def test_a_kiosk_booted_3_days_in_the_past_refuses_then_issues_once_corrected(
    make_kiosk,
) -> None:
    clock = Clock(T0)
    kiosk = make_kiosk(clock=clock)
    controlled(kiosk, Boot())
    first = kiosk.issuance.issue(request()).certificate
    # The power is cut; the Pi boots without network at a time 3 days old.
    clock.now = T0 - timedelta(days=3)
    before = kiosk.store.counter("certificate_seq")
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request())
    assert refused.value.code == "clock" and PLAIN in refused.value.message
    assert "no certificate was issued" in refused.value.text("en")
    assert kiosk.store.counter("certificate_seq") == before  # no number spent
    (alarm,) = [a for a in kiosk.alarms.open() if a.code == "clock"]
    assert alarm.severity == "critical" and alarm.detail["code"] == "below_floor"
    assert alarm.detail["floor"][:16] == first.issued_at.isoformat()[:16]
    assert [e.data["code"] for e in kiosk.audit.entries(kind="clock.untrusted")] == ["below_floor"]
    sent = [
        json.loads(r[0])
        for r in kiosk.store.conn.execute(
            "SELECT body FROM outbox WHERE schema LIKE 'alarm.raised%'"
        )
    ]
    assert any(e["data"]["code"] == "clock" for e in sent), sent
    # Asked again (the UI every 5 s): one alarm, one audit row per episode.
    assert refusal(kiosk) is not None and refusal(kiosk) is not None
    assert len(kiosk.audit.entries(kind="clock.untrusted")) == 1
    # Its own refusal wrote an audit row at the wrong time: the floor did not drop.
    assert refusal(kiosk).code == "clock"
    # The clock is corrected (sync or the technician): it issues again, alarm cleared.
    clock.now = T0 + timedelta(minutes=5)
    second = kiosk.issuance.issue(request()).certificate
    assert second.issued_at >= first.issued_at
    assert not kiosk.alarms.is_open("clock")
    assert kiosk.audit.entries(kind="clock.trusted")


def test_each_certificate_floors_the_clock_in_its_own_transaction_not_in_the_file(
    make_kiosk,
) -> None:
    """The floor file (two fsyncs) is rewritten once a minute of issuing (certificates
    are dated to the minute), not at every certificate; the database floor, committed
    with each certificate, catches a clock put back after a power cut."""
    clock = Clock(T0)
    kiosk = make_kiosk(clock=clock)
    controlled(kiosk, Boot())
    judge = kiosk.issuance.time_trust
    kiosk.issuance.issue(request())
    first_file = judge.state()["floor"]
    path = judge.path
    written = path.stat().st_mtime_ns, path.stat().st_ino
    clock.now = T0 + timedelta(seconds=40)  # the same minute
    same = kiosk.issuance.issue(request()).certificate
    assert same.issued_at == datetime.fromisoformat(first_file)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written, "file rewritten"
    clock.now = T0 + timedelta(seconds=FILE_FLOOR_STEP_S + 10)  # the next minute
    last = kiosk.issuance.issue(request()).certificate
    assert last.issued_at > datetime.fromisoformat(first_file)
    assert datetime.fromisoformat(judge.state()["floor"]) == last.issued_at
    assert kiosk.store.counter(DB_FLOOR) == round(last.issued_at.timestamp() * 1_000_000)
    assert judge.floor() == last.issued_at
    # The power is cut; the clock comes back 20 s before the last certificate.
    clock.now = last.issued_at - timedelta(seconds=20)
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request())
    assert refused.value.code == "clock"
    (alarm,) = [a for a in kiosk.alarms.open() if a.code == "clock"]
    assert alarm.detail["code"] == "below_floor"
    assert alarm.detail["floor"][:19] == last.issued_at.isoformat()[:19]


def test_unsynchronised_without_rtc_too_long_refuses_and_an_rtc_or_sync_restores(
    make_kiosk,
) -> None:
    clock = Clock(T0)
    kiosk = make_kiosk(clock=clock, time={"max_unsynced_min": 30})
    boot = Boot(uptime=60.0)
    source = controlled(kiosk, boot)
    source.set(synchronized=False, rtc=False)
    assert refusal(kiosk) is None  # within the grace after boot
    boot.uptime = 31 * 60.0
    clock.now = T0 + timedelta(minutes=30)
    refused = refusal(kiosk)
    assert refused is not None and "未对时" in refused.message
    assert kiosk.alarms.is_open("clock")
    source.set(synchronized=False, rtc=True)  # a DS3231 keeps time without network
    kiosk.issuance.time_trust._status = None
    assert refusal(kiosk) is None and not kiosk.alarms.is_open("clock")
    source.set(synchronized=True, rtc=False)
    kiosk.issuance.time_trust._status = None
    assert refusal(kiosk) is None
    # Confirmed at uptime 31 min: unsynchronised again, the 30 minutes count from there.
    source.set(synchronized=False, rtc=False)
    kiosk.issuance.time_trust._status = None
    boot.uptime = 50 * 60.0
    assert refusal(kiosk) is None
    boot.uptime = 62 * 60.0
    assert refusal(kiosk) is not None


def test_beacon_disagreement_live_and_retained(tmp_path: Path) -> None:
    boot = Boot(uptime=100.0)
    source = SimulatedTimeSource(tmp_path / "sim.json", boot=boot)
    judge = TimeTrust(tmp_path, source, TimeSettings(beacon_tolerance_s=120))
    # A retained copy may be old (the station stopped): only a clock behind it is wrong.
    judge.accept_beacon(TimeBeacon("330100", T0, 60), live=False)
    assert judge.assess(T0 + timedelta(days=2)).trusted
    boot.uptime = 160.0  # a minute later by the boot clock
    verdict = judge.assess(T0 - timedelta(minutes=10))
    assert not verdict.trusted and verdict.code in ("beacon_disagrees", "below_floor")
    # A live beacon vouches both ways: a clock an hour ahead is wrong.
    judge.accept_beacon(TimeBeacon("330100", T0 + timedelta(minutes=1), 60), live=True)
    ahead = judge.assess(T0 + timedelta(hours=1, minutes=1))
    assert ahead.code == "beacon_disagrees" and ahead.detail["offset_s"] == pytest.approx(3600)
    boot.uptime = 460.0  # five minutes later: the county's time is T0 + 6 min
    assert judge.assess(T0 + timedelta(minutes=6, seconds=30)).trusted
    # Unsynchronised and no RTC, long after boot: a live agreeing beacon vouches for it.
    source.set(synchronized=False, rtc=False)
    judge._status = None
    boot.uptime = 10_000.0
    county_now = T0 + timedelta(minutes=1, seconds=10_000 - 160)
    assert judge.assess(county_now).source == "beacon"
    # After a reboot the old boot's beacon says nothing about the clock.
    boot.boot_id = "boot-2"
    assert judge.assess(county_now).code == "unsynced"


# ---- the beacon over a real broker to the agent's listener ---------------------------------

ACCOUNTS = """
kiosk      330100/K001
county     county-330100 330100
"""
PASSWORDS = {"330100/K001": "pw-a", "county-330100": "pw-county"}


def test_the_station_beacon_reaches_the_agent_and_stops_a_clock_that_runs_ahead(
    tmp_path: Path,
    broker_factory,  # noqa: F811
) -> None:
    broker = broker_factory(acl=deploy_acl(tmp_path / "acl", ACCOUNTS), passwords=PASSWORDS)
    pw = tmp_path / "pw"
    pw.write_text("pw-a")
    base = enrolled_config(
        tmp_path / "k",
        uplink={"host": "127.0.0.1", "port": broker.port, "username": "330100/K001",
                "password_file": pw},
    )  # fmt: skip
    config = effective_config(base)
    county_clock = Clock(datetime.now(CST))
    kiosk_clock = Clock(county_clock.now + timedelta(hours=2))  # the kiosk runs 2 h ahead
    kiosk = open_kiosk(config, clock=kiosk_clock)
    listener, store = headless_listener(config)
    listener.clock = kiosk_clock
    listener.time_trust = lambda s: time_trust(config, s)
    county = BrokerSettings("127.0.0.1", broker.port, "county-330100", "pw-county",
                            client_id="county-330100-time")  # fmt: skip
    publisher = TimeBeaconPublisher("330100", COUNTY_KEY, county, county_clock, interval_s=60)
    try:
        listener.start()
        assert listener.wait_connected(10)
        assert refusal(kiosk) is None  # no beacon yet, the simulation says synchronised
        publisher.publish_once()
        wait_until(lambda: listener.stats.beacons >= 1, 10, "the live beacon")
        refused = refusal(kiosk)
        assert refused is not None and refused.code == "clock" and PLAIN in refused.message
        alarm = next(a for a in kiosk.alarms.open() if a.code == "clock")
        assert alarm.detail["code"] == "beacon_disagrees"
        assert alarm.detail["offset_s"] == pytest.approx(7200, abs=5)
        # A forged beacon is refused and audited; it changes nothing.
        rogue = connect(
            BrokerSettings("127.0.0.1", broker.port, "county-330100", "pw-county",
                           client_id="county-330100-rogue")
        )  # fmt: skip
        try:
            forged = TimeBeacon("330100", county_clock.now + timedelta(days=9), 60)
            rogue.publish(
                time_topic("agriqs/v1", "330100"),
                json.dumps(forged.sign(SigningKey.generate())).encode(),
                qos=0,
            ).wait_for_publish(5)
        finally:
            close(rogue)
        wait_until(lambda: bool(kiosk.audit.entries(kind="time.refused")), 10, "the forged beacon")
        assert kiosk.issuance.time_trust.floor() < county_clock.now + timedelta(days=1)
        # The clock is corrected; the next live beacon agrees: issuing again.
        kiosk_clock.now = county_clock.now = datetime.now(CST)
        publisher.publish_once()
        wait_until(lambda: listener.stats.beacons >= 2, 10, "the second beacon")
        assert refusal(kiosk) is None
        assert kiosk.issuance.issue(request()).printed
        # A kiosk's account may not publish the county's time (broker ACL).
        login = BrokerSettings("127.0.0.1", broker.port, "330100/K001", "pw-a",
                               client_id="330100-K001-rogue")  # fmt: skip
        client = connect(login)
        try:
            from wire.mqtt import publish_and_wait

            with pytest.raises(BrokerError, match="refused"):
                publish_and_wait(client, time_topic("agriqs/v1", "330100"), b"{}", retain=True)
        finally:
            close(client)
    finally:
        publisher.stop()
        listener.stop()
        store.close()
        kiosk.close()


# ---- a real kiosk process under a shifted clock --------------------------------------------


def test_a_kiosk_process_3_days_in_the_past_refuses_under_faketime(tmp_path: Path) -> None:
    faketime = shutil.which("faketime")
    assert faketime, "Debian's faketime is installed by scripts/setup"
    data = tmp_path / "data"
    cli = [sys.executable, "-m", "app.cli", "--data-dir", str(data)]
    issue = ["issue", "--issuer", "张秀英", "--phone", "13812345678", "--product", "青菜",
             "--quantity", "5", "--origin", "示范村"]  # fmt: skip
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    first = subprocess.run([*cli, *issue], capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    shifted = subprocess.run(
        [faketime, "-f", "-3d", *cli, *issue], capture_output=True, text=True, timeout=60, env=env
    )
    assert shifted.returncode == EXIT_REFUSED, shifted.stdout + shifted.stderr
    assert PLAIN in shifted.stderr and "The clock is not set correctly" in shifted.stderr
    status = subprocess.run(
        [faketime, "-f", "-3d", *cli, "time", "--json"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert status.returncode == EXIT_REFUSED and json.loads(status.stdout)["code"] == "below_floor"
    again = subprocess.run([*cli, *issue], capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 0, again.stderr
    with open_kiosk(configured(data)) as kiosk:
        assert kiosk.store.conn.execute("SELECT count(*) FROM certificates").fetchone()[0] == 2
        assert [e.data["code"] for e in kiosk.audit.entries(kind="clock.untrusted")] == [
            "below_floor"
        ]
        assert not kiosk.alarms.is_open("clock")  # cleared by the corrected clock


# ---- the touch UI ---------------------------------------------------------------------------


def test_the_touch_ui_shows_the_clock_out_of_service_page_and_the_technician_line(
    make_kiosk,
) -> None:
    from app.compose import hardware_desk, seed_demo_accounts
    from ui.loop import App
    from ui.screens.farmer import HomeScreen
    from ui.screens.service import OutOfServiceScreen
    from ui.screens.technician import TechnicianScreen
    from ui.testing import Driver

    clock = Clock(datetime.now(CST))
    kiosk = make_kiosk(clock=clock)
    controlled(kiosk, Boot())
    seed_demo_accounts(kiosk)
    kiosk.issuance.issue(request())
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170.0, audio=False)
    app.printer_poll_s = app.health_poll_s = 0.05
    ui = Driver(app)
    try:
        ui.until(lambda: ui.on(HomeScreen))
        ui.settle(3)
        from kiosk.infra.activity import quiet

        assert quiet(kiosk.config.paths.data_dir) == (True, "")  # the UI says: not in use
        clock.now -= timedelta(days=3)
        ui.until(lambda: ui.on(OutOfServiceScreen))
        text = " ".join(ui.texts())
        assert "暂停服务：时间未校准" in text and PLAIN in text
        ui.tap("technician")
        ui.type_digits("975310")
        ui.tap("ok")
        assert ui.on(TechnicianScreen)
        ui.settle(3)
        assert quiet(kiosk.config.paths.data_dir)[0] is False  # in use: no update now
        assert "时钟：时间未校准" in " ".join(ui.texts()) and "早于最后一条记录" in " ".join(
            ui.texts()
        )
        clock.now += timedelta(days=3, minutes=1)
        ui.tap("home")
        ui.until(lambda: ui.on(HomeScreen))
        assert not kiosk.alarms.is_open("clock")
    finally:
        app.close()
