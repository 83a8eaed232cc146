"""Shared fixtures: a kiosk over a temporary data directory with a simulated printer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from support.kiosk import configured
from support.postgres import pg_url  # noqa: F401  (fixture)

from app.compose import open_kiosk
from kiosk.services.kiosk import Kiosk
from wire.clock import china_time


@pytest.fixture
def make_kiosk(tmp_path: Path) -> Iterator[Callable[..., Kiosk]]:
    """Opens kiosks over the simulation config; ``make_kiosk(printer profile, paper, ...)``."""
    opened: list[Kiosk] = []

    def make(
        *,
        profile: str = "tspl-60x40",
        paper: str = "label-60x40",
        clock: Callable[[], datetime] = china_time,
        data_dir: Path | None = None,
        **sections: dict,
    ) -> Kiosk:
        printer = {"profile": profile, "paper": paper}
        config = configured(data_dir or tmp_path / "data", printer=printer, **sections)
        kiosk = open_kiosk(config, clock=clock)
        opened.append(kiosk)
        return kiosk

    yield make
    for kiosk in opened:
        kiosk.close()


@pytest.fixture
def kiosk(make_kiosk: Callable[..., Kiosk]) -> Kiosk:
    return make_kiosk()
