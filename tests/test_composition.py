"""The composition root opens what the configuration names, and survives a missing reader."""

from __future__ import annotations

from collections.abc import Callable

from app.compose import attach_inputs, attach_reader
from drivers.indicators import LightState
from kiosk.services.kiosk import Kiosk


def test_simulated_inputs_open_and_close(make_kiosk: Callable[..., Kiosk]) -> None:
    kiosk = make_kiosk(scale={"kind": "simulated"})
    attach_inputs(kiosk)
    assert kiosk.scanner is not None and kiosk.indicators is not None and kiosk.scale is not None
    scans: list[str] = []
    kiosk.scanner.start(scans.append)
    kiosk.scanner.scan("P-330100-000123")  # type: ignore[attr-defined]
    kiosk.scanner.wait_idle(5)  # type: ignore[attr-defined]
    assert scans == ["P-330100-000123"]
    kiosk.indicators.set_light(LightState.READY)
    snapshot = kiosk.indicators.snapshot()  # type: ignore[attr-defined]
    assert snapshot.light is LightState.READY and snapshot.lit["green"]
    kiosk.close()
    kiosk.close()  # idempotent


def test_configured_off_means_none(make_kiosk: Callable[..., Kiosk]) -> None:
    kiosk = make_kiosk(
        scanner={"kind": "none"}, indicators={"kind": "none"}, scale={"kind": "none"}
    )
    attach_inputs(kiosk)
    assert (kiosk.scanner, kiosk.indicators, kiosk.scale) == (None, None, None)


def test_an_unplugged_reader_does_not_stop_the_kiosk(make_kiosk: Callable[..., Kiosk]) -> None:
    kiosk = make_kiosk(reader={"kind": "serial", "port": "/dev/nonexistent-reader"})
    assert attach_reader(kiosk, required=False) is None
    alarm = kiosk.store.conn.execute(
        "SELECT body FROM outbox WHERE schema = 'alarm.raised'"
    ).fetchone()
    assert alarm and "reader_fault" in alarm[0]
    # Certificates still issue.
    from support.kiosk import request

    assert kiosk.issuance.issue(request()).printed
