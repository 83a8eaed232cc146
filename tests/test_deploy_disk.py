"""A nearly full disk: the kiosk refuses to issue, says why, and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.kiosk import request
from support.printers import CountingPrinter

from app.compose import open_kiosk
from kiosk.config import load_config
from kiosk.infra import backup
from kiosk.services.issuance import IssuanceRefused


def test_refuses_to_issue_when_free_space_is_below_min_free(tmp_path: Path):
    config = load_config(None, data_dir=tmp_path)
    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    # Ask for more headroom than the disk has: the real free-space check must trip.
    paths = config.paths.model_copy(update={"min_free_mb": free_mb + 1024})
    config = config.model_copy(update={"paths": paths})
    printer = CountingPrinter()
    with open_kiosk(config, printer=printer) as kiosk:
        before = kiosk.store.counter("certificate_seq")
        with pytest.raises(IssuanceRefused) as refused:
            kiosk.issuance.issue(request())
        assert refused.value.code == "disk_full"
        assert "存储空间不足" in refused.value.message and "技术员" in refused.value.message
        assert kiosk.store.counter("certificate_seq") == before, "a number was spent"
        assert kiosk.issuance.list() == []
    assert printer.jobs == 0


def test_backup_refuses_to_fill_the_disk(tmp_path: Path):
    with open_kiosk(load_config(None, data_dir=tmp_path / "data"), printer=CountingPrinter()):
        pass
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(backup.BackupError, match="not enough space"):
        backup.create_backup(tmp_path / "data", tmp_path / "b", min_free_bytes=free + 2**30)
    assert backup.list_backups(tmp_path / "b") == []
