"""Issue 11 item 7, kiosk: PINs and logins, attacked on a real kiosk database.

Before the defence (main at aa4ea2d): a shared 4-digit role PIN was accepted, a second
burst of guesses after a lock-out got the same 10 minutes, no login or failure reached
the audit chain and the county heard nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from support.kiosk import configured
from support.rapidtest import ShiftClock

from app.compose import DEMO_ACCOUNTS, open_kiosk, seed_demo_accounts
from kiosk.services.staff import (
    SCRYPT_N,
    SCRYPT_R,
    LockedOut,
    LoginRefused,
    PinError,
    StaffAuth,
    hash_pin,
    verify_pin,
)


def staff_auth(kiosk, clock=None) -> StaffAuth:
    return StaffAuth(
        kiosk.store, clock or kiosk.clock, audit=kiosk.audit, alarms=kiosk.alarms,
        max_failures=5, lockout=timedelta(minutes=10),
    )  # fmt: skip


@pytest.mark.parametrize(
    "pin", ["1234", "12345", "123456", "111111", "987654", "١٢٣٤٥٩٠", "１２３４５９０", "12 3459"]
)
def test_short_trivial_or_non_ascii_pins_are_refused(kiosk, pin) -> None:
    with pytest.raises(PinError):
        kiosk.staff.add("王芳", "staff", pin, by="test")
    assert kiosk.staff.members() == []


@pytest.mark.parametrize(
    "name", ["\u2800\u2800", "\u3164\u3164", "王\u200b芳", "王芳\u202e", "王\n芳", "王\x1b芳"]
)
def test_invisible_or_control_names_are_refused(kiosk, name) -> None:
    with pytest.raises(PinError):
        kiosk.staff.add(name, "staff", "314159", by="test")


def test_accounts_are_per_person_and_a_staff_pin_does_not_open_technician_mode(kiosk) -> None:
    kiosk.staff.add("王芳", "staff", "314159", by="test")
    kiosk.staff.add("李工", "technician", "271828", by="test")
    assert kiosk.staff.login("王芳", "314159", "staff").name == "王芳"
    with pytest.raises(LoginRefused):
        kiosk.staff.login("王芳", "314159", "technician")  # a staff account, not a technician
    with pytest.raises(LoginRefused):
        kiosk.staff.login("李工", "314159", "staff")  # someone else's PIN
    assert kiosk.staff.login("李工", "271828", "staff").role == "technician"
    kiosk.staff.set_active("王芳", False, by="test")
    with pytest.raises(LoginRefused):
        kiosk.staff.login("王芳", "314159", "staff")


def test_every_login_and_failure_is_in_the_audit_chain(kiosk) -> None:
    kiosk.staff.add("王芳", "staff", "314159", by="test")
    with pytest.raises(LoginRefused):
        kiosk.staff.login("王芳", "000000", "staff")
    with pytest.raises(LoginRefused):
        kiosk.staff.login("没有这个人", "000000", "staff")
    member = kiosk.staff.login("王芳", "314159", "staff")
    kiosk.staff.logout(member, "staff")
    kinds = [(e.kind, e.data.get("name"), e.data.get("reason")) for e in kiosk.audit.entries()]
    assert kinds[-4:] == [
        ("login.failed", "王芳", "wrong_pin"),
        ("login.failed", "没有这个人", "no_account"),
        ("login", "王芳", None),
        ("logout", "王芳", None),
    ]
    assert kiosk.audit.verify().ok
    assert all("314159" not in e.data.values() for e in kiosk.audit.entries())


def test_lockouts_escalate_and_alarm_the_county(kiosk) -> None:
    start = kiosk.clock()
    clock = ShiftClock(lambda: start)
    auth = staff_auth(kiosk, clock)
    auth.add("王芳", "staff", "314159", by="test")

    def burst() -> LockedOut:
        for _ in range(4):
            with pytest.raises(LoginRefused):
                auth.login("王芳", "000000", "staff")
        with pytest.raises(LockedOut) as locked:
            auth.login("王芳", "000000", "staff")
        return locked.value

    first = burst()
    assert first.until - clock() == timedelta(minutes=10)
    with pytest.raises(LockedOut):
        auth.login("王芳", "314159", "staff")  # the right PIN is not even tried
    bodies = [json.loads(r.body) for r in kiosk.outbox.page()]
    sent = [e for e in bodies if e["schema"].startswith("alarm.raised")]
    assert [e["data"]["code"] for e in sent] == ["login_lockout"]
    assert sent[0]["data"]["detail"]["name"] == "王芳"
    clock.shift += timedelta(minutes=11)
    second = burst()
    assert second.until - clock() == timedelta(minutes=30)  # escalates: 10, 30, 90 ... 24 h
    clock.shift += timedelta(minutes=31)
    assert burst().until - clock() == timedelta(minutes=90)
    alarms = [a for a in kiosk.alarms.open() if a.code == "login_lockout"]
    assert len(alarms) == 3 and alarms[-1].severity == "critical"
    clock.shift += timedelta(minutes=91)
    auth.login("王芳", "314159", "staff")  # a success clears the alarms and the escalation
    assert not [a for a in kiosk.alarms.open() if a.code == "login_lockout"]
    assert auth.limiter.state("staff:1").lockouts == 0
    assert auth.limiter.duration(10) == timedelta(hours=24)


def test_lockout_survives_a_restart(make_kiosk, tmp_path) -> None:
    kiosk = make_kiosk(data_dir=tmp_path / "d")
    kiosk.staff.add("王芳", "staff", "314159", by="test")
    for _ in range(4):
        with pytest.raises(LoginRefused):
            kiosk.staff.login("王芳", "000000", "staff")
    with pytest.raises(LockedOut):
        kiosk.staff.login("王芳", "000000", "staff")
    kiosk.close()
    again = make_kiosk(data_dir=tmp_path / "d")
    with pytest.raises(LockedOut):
        again.staff.login("王芳", "314159", "staff")


def test_scrypt_cost_is_raised_and_old_hashes_are_upgraded_on_login(kiosk) -> None:
    stored = hash_pin("314159")
    assert stored.split("$")[1:4] == [str(SCRYPT_N), str(SCRYPT_R), "1"]
    assert SCRYPT_N * SCRYPT_R > 2**14 * 8  # the earlier cost, ~0.2 s on a Pi 4
    started = time.perf_counter()
    assert verify_pin("314159", stored)
    assert time.perf_counter() - started > 0.04  # ~0.06 s here
    # A doctored record cannot make a check take gigabytes.
    assert not verify_pin("314159", stored.replace(f"${SCRYPT_N}$", f"${2**24}$", 1))
    kiosk.staff.add("王芳", "staff", "314159", by="test")
    salt = b"s" * 16
    weak = hashlib.scrypt(b"314159", salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt${2**14}$8$1${salt.hex()}${weak.hex()}"
    kiosk.store.conn.execute("UPDATE staff_accounts SET pin_hash = ?", [old])
    kiosk.staff.login("王芳", "314159", "staff")
    upgraded = kiosk.store.conn.execute("SELECT pin_hash FROM staff_accounts").fetchone()[0]
    assert upgraded.split("$")[1:3] == [str(SCRYPT_N), str(SCRYPT_R)]
    assert verify_pin("314159", upgraded)


def real_kiosk(data: Path):
    """A non-simulation config over ``data``: no simulated device (they are refused)."""
    none = {"kind": "none"}
    transport = configured(data).printer.transport.model_copy(update=none)
    config = configured(data, device={"simulation": False}, reader=none, scanner=none,
                        indicators=none, printer={"transport": transport},
                        time={"sync": "timesyncd"})  # fmt: skip
    return open_kiosk(config)


def test_demo_accounts_only_under_the_simulation_config(make_kiosk, tmp_path) -> None:
    real = real_kiosk(tmp_path / "real")
    seed_demo_accounts(real)
    assert real.staff.members() == []
    sim = make_kiosk(data_dir=tmp_path / "sim")
    seed_demo_accounts(sim)
    assert sorted(m.name for m in sim.staff.members()) == sorted(DEMO_ACCOUNTS)
    sim.close()
    # The same data opened with a real configuration: the demo accounts stop working.
    reopened = real_kiosk(tmp_path / "sim")
    seed_demo_accounts(reopened)
    name, (role, pin) = next(iter(DEMO_ACCOUNTS.items()))
    with pytest.raises(LoginRefused):
        reopened.staff.login(name, pin, role)
    reopened.close()
    real.close()


def test_certificates_issued_or_voided_from_the_cli_name_who_did_it(tmp_path) -> None:
    data = tmp_path / "data"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "--data-dir", str(data), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    issued = cli("issue", "--issuer", "张秀英", "--phone", "13812345678", "--product", "V001",
                 "--quantity", "10", "--origin", "浙江省示范村")  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert cli("void", "330100-K001-0000001", "--reason", "数量填错").returncode == 0
    with open_kiosk(configured(data)) as kiosk:
        by = {e.kind: e.data.get("by") for e in kiosk.audit.entries()}
    user = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    assert by["certificate.issued"] == user and by["certificate.voided"] == user
