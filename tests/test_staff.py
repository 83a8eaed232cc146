"""Staff and technician accounts: salted hashes, the CLI-facing account operations.

The attacks (short PINs, lock-outs, audit, alarms, demo accounts) are in
tests/security/test_kiosk_logins.py."""

from __future__ import annotations

import pytest

from kiosk.services.staff import LoginRefused, PinError, hash_pin, verify_pin


def test_pin_is_stored_as_a_salted_scrypt_hash(kiosk) -> None:
    kiosk.staff.add("王芳", "staff", "246813", by="test")
    stored = kiosk.store.conn.execute("SELECT pin_hash FROM staff_accounts").fetchone()[0]
    assert stored.startswith("scrypt$") and "246813" not in stored
    assert hash_pin("246813") != hash_pin("246813")  # salted
    assert verify_pin("246813", stored) and not verify_pin("246814", stored)
    assert not verify_pin("246813", "md5$garbage")


def test_names_are_unique_and_a_new_pin_replaces_the_old(kiosk) -> None:
    kiosk.staff.add("王芳", "staff", "246813", by="test")
    with pytest.raises(PinError):
        kiosk.staff.add("王芳", "technician", "975312", by="test")
    kiosk.staff.set_pin("王芳", "975312", by="test")
    with pytest.raises(LoginRefused):
        kiosk.staff.login("王芳", "246813", "staff")
    assert kiosk.staff.login("王芳", "975312", "staff").name == "王芳"
    kinds = [e.kind for e in kiosk.audit.entries()]
    assert kinds[:2] == ["staff.added", "pin.changed"]
