"""The composition root opens what the configuration names, and survives a missing reader."""

from __future__ import annotations

from collections.abc import Callable

from app.compose import attach_inputs, attach_reader, hardware_desk
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


def test_the_touch_ui_opens_the_reader_after_its_first_frame(
    make_kiosk: Callable[..., Kiosk],
) -> None:
    """`kiosk run` opens the reader on its worker: a silent reader holds its opener up to
    the link's 10 s open timeout, and the screen is drawn meanwhile; the simulated
    reader (a real simulator process behind a pty) then reaches the UI's bundle and
    every worker's."""
    import threading

    from ui.loop import App
    from ui.testing import Driver

    kiosk = make_kiosk(reader={"kind": "simulated"})
    assert kiosk.reader is None
    app = App(kiosk, hardware_desk(kiosk), size=(800, 480), audio=False)
    ui = Driver(app)
    answer = threading.Event()

    def silent_then_real(services: Kiosk):  # type: ignore[no-untyped-def]
        answer.wait(10)  # a reader that has not answered its handshake yet
        return attach_reader(services, required=False)

    try:
        app.open_reader_later(silent_then_real)
        app.step(0.05)
        assert app.frames >= 1 and app.device_busy("reader")
        assert kiosk.reader is None  # the screen did not wait for it
        answer.set()
        ui.until(lambda: kiosk.reader is not None, timeout=20)
        assert kiosk.rapid_tests.reader is kiosk.reader
        assert kiosk.reader.info().serial_number  # type: ignore[union-attr]
        seen: list[object] = []
        app.run_job(
            None, "reader", lambda services, _c: services.reader, label="next", expected_s=5,
            on_finish=lambda _kind, data: seen.append(data.get("result")),
        )  # fmt: skip
        ui.until(lambda: bool(seen))
        assert seen == [kiosk.reader]  # a later job on the worker's own bundle has it
    finally:
        app.close()
    alarms = kiosk.store.conn.execute(
        "SELECT count(*) FROM outbox WHERE schema = 'alarm.raised' AND body LIKE '%reader_fault%'"
    ).fetchone()[0]
    assert alarms == 0
