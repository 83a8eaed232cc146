"""Staff and technician PINs: hashed, rate-limited, locked out across a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.rapidtest import ShiftClock

from kiosk.services.staff import LockedOut, PinError, StaffAuth, hash_pin, verify_pin


def test_pin_is_stored_as_a_salted_scrypt_hash(kiosk) -> None:
    auth = StaffAuth(kiosk.store, kiosk.clock)
    auth.set_pin("staff", "2468")
    stored = kiosk.store.conn.execute("SELECT pin_hash FROM staff_credentials").fetchone()[0]
    assert stored.startswith("scrypt$") and "2468" not in stored
    assert hash_pin("2468") != hash_pin("2468")  # salted
    assert verify_pin("2468", stored) and not verify_pin("2469", stored)
    assert not verify_pin("2468", "md5$garbage")


def test_roles_are_separate_and_bad_pins_refused(kiosk) -> None:
    auth = StaffAuth(kiosk.store, kiosk.clock)
    auth.set_pin("staff", "1111")
    auth.set_pin("technician", "2222")
    assert auth.check("staff", "1111") and not auth.check("staff", "2222")
    assert auth.check("technician", "2222")
    with pytest.raises(PinError):
        auth.set_pin("staff", "12a4")
    with pytest.raises(PinError):
        auth.set_pin("staff", "123")


def test_lockout_after_failures_survives_restart_and_expires(make_kiosk, tmp_path) -> None:
    kiosk = make_kiosk(data_dir=tmp_path / "d")
    clock = ShiftClock(kiosk.clock)
    auth = StaffAuth(kiosk.store, clock, max_failures=3, lockout=timedelta(minutes=10))
    auth.set_pin("staff", "1357")
    assert not auth.check("staff", "0000")
    assert not auth.check("staff", "0001")
    with pytest.raises(LockedOut):
        auth.check("staff", "0002")
    kiosk.close()
    # A restart (new process, same database) does not lift the lock-out ...
    again = make_kiosk(data_dir=tmp_path / "d")
    auth = StaffAuth(again.store, clock, max_failures=3, lockout=timedelta(minutes=10))
    with pytest.raises(LockedOut) as locked:
        auth.check("staff", "1357")  # even the right PIN is not tried
    assert locked.value.until > clock()
    # ... time does.
    clock.shift = timedelta(minutes=11)
    assert auth.check("staff", "1357")
    assert auth.limiter.state("staff").failures == 0


def test_success_resets_the_count(kiosk) -> None:
    auth = StaffAuth(kiosk.store, kiosk.clock, max_failures=3)
    auth.set_pin("technician", "8080")
    assert not auth.check("technician", "1")
    assert not auth.check("technician", "2")
    assert auth.check("technician", "8080")
    assert auth.limiter.remaining("technician") == 3
