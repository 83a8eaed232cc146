"""The database's integrity check runs once per boot: a corrupt file is refused after a
reboot, and later opens in the same boot do not read the whole file again."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.kiosk import configured, request

from app import compose
from app.compose import open_kiosk
from kiosk.infra.store import Store, StoreError


def test_checked_once_per_boot_and_corruption_refused_after_a_reboot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boot = tmp_path / "boot_id"
    boot.write_text("boot-1\n")
    monkeypatch.setattr(compose, "BOOT_ID_FILE", boot)
    checks: list[str] = []
    real = Store.integrity_check

    def counted(self: Store, *, quick: bool = False) -> list[str]:
        checks.append("check")
        return real(self, quick=quick)

    monkeypatch.setattr(Store, "integrity_check", counted)
    config = configured(tmp_path / "data")
    with open_kiosk(config) as kiosk:
        for _ in range(30):
            kiosk.issuance.issue(request())
    with open_kiosk(config):
        pass
    assert checks == ["check"]  # the second open in the same boot did not check again

    database = config.paths.database
    data = bytearray(database.read_bytes())
    page = 4096
    for n in range(2, len(data) // page):  # b-tree page headers torn by a failing card
        data[n * page : n * page + 8] = b"\x0d\xff\xff\xff\xff\xff\xff\xff"
    database.write_bytes(bytes(data))
    boot.write_text("boot-2\n")  # the power came back
    with pytest.raises(StoreError, match=r"integrity check failed|damaged"):
        open_kiosk(config)
