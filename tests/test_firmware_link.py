"""The link over a real pty to the simulator process: noise, concurrency, port handling."""

from __future__ import annotations

import threading
import time

import pytest
import serial
from support.reader import assert_enzyme_matches_truth, simulated_reader, truth_records

from readerlink.errors import DeviceDisconnectedError, LinkError, LinkTimeoutError
from readerlink.host import LinkState, ReaderLink
from readerlink.messages import MsgType


def test_exclusive_open_and_by_id_path(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        port = reader.link.port
        assert "/serial/by-id/" in port
        with pytest.raises(serial.SerialException):
            serial.Serial(port, 115200, exclusive=True)
        second = ReaderLink(port)
        with pytest.raises(DeviceDisconnectedError, match="cannot open"):
            second.open(timeout=1)


def test_missing_port_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DeviceDisconnectedError, match="cannot open"):
        ReaderLink(str(tmp_path / "no-such-tty")).open(timeout=1)


def test_noisy_line_never_yields_a_wrong_measurement(tmp_path) -> None:
    """At a 1e-3 bit-error rate with dropped bytes, requests from several threads either
    complete with exactly what the device measured or fail with a typed LinkError."""
    args = ["--bit-error-rate", "1e-3", "--drop-rate", "2e-4", "--seed", "7"]
    with simulated_reader(
        tmp_path, baudrate=460800, time_scale=360, args=args, request_timeout=8
    ) as reader:
        serial_number = reader.info().serial_number
        outcomes: list[tuple[str, object]] = []
        runs = []
        lock = threading.Lock()

        def worker(k: int) -> None:
            for i in range(6):
                try:
                    if k == 0 and i % 3 == 0:
                        run = reader.run_enzyme(range(12), duration_s=180, interval_s=15)
                        with lock:
                            runs.append(run)
                        result: object = run
                    elif i % 2:
                        result = reader.health()
                        assert 0 < result.lamp_relative <= 1 and 15 < result.temperature_c < 35
                    else:
                        result = reader.info()
                        assert result.serial_number == serial_number
                        assert result.channels == 12
                except LinkError as exc:
                    result = exc
                with lock:
                    outcomes.append(("ok" if not isinstance(result, Exception) else "err", result))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(outcomes) == 18
        stats = reader.link.stats()

    truth = truth_records(tmp_path)
    for run in runs:
        assert_enzyme_matches_truth(run, truth[run.run_id])
        assert all(len(c.absorbance) == 13 for c in run.curves.values())
    ok = sum(1 for kind, _ in outcomes if kind == "ok")
    print(f"noisy line: {ok}/18 completed, stats {stats}")
    assert stats["crc_errors"] > 0 and stats["garbage_bytes"] > 0, stats  # noise was real
    assert ok >= 12, outcomes  # and the link still got most work done


def test_concurrent_requests_are_matched_to_their_callers(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        link = reader.link
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(25):
                    hello = link.request(MsgType.HELLO, b"\x01")
                    health = link.request(MsgType.HEALTH)
                    assert len(hello) > len(health) == 9
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert link.state == LinkState.READY


def test_stalled_device_is_waited_out_and_a_dead_one_times_out(tmp_path) -> None:
    with simulated_reader(tmp_path, request_timeout=4) as reader:
        reader.controls.stall(1.0)  # starts 50 ms after the reply
        time.sleep(0.1)
        t = time.monotonic()
        assert reader.health().temperature_c > 0  # retransmitted until the MCU is back
        assert time.monotonic() - t > 0.7
        reader.controls.stall(3.0)
        time.sleep(0.1)
        with pytest.raises(LinkTimeoutError, match="HEALTH"):
            reader.link.request(MsgType.HEALTH, timeout=1.0)
        time.sleep(3.0)
        assert reader.health().lamp_relative > 0  # and the link carries on afterwards
