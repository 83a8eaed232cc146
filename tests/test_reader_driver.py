"""TestReader over the simulated part: operations, bad input, reset and unplug."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from support.reader import assert_enzyme_matches_truth, simulated_reader, truth_records

from drivers.reader import (
    DeviceDisconnectedError,
    DeviceError,
    DeviceResetError,
    open_test_reader,
)


def test_info_self_test_health_and_calibration(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        info = reader.info()
        assert info.channels == 12 and info.firmware_version == "1.0.0"
        assert {"enzyme_412nm", "strip", "fw_update"} <= info.capabilities
        assert info.blank_calibrated and not info.reference_calibrated
        report = reader.self_test()
        assert report.passed, report
        health = reader.health()
        assert 0.5 < health.lamp_relative <= 1.0 and health.lamp_hours > 0
        blank = reader.calibrate_blank([0, 3])
        assert blank.kind == "blank" and set(blank.values) == {0, 3}
        assert all(40000 < v < 60000 for v in blank.values.values())
        ref = reader.calibrate_reference()
        assert len(ref.values) == 12
        assert all(abs(a - 0.5) < 0.02 for a in ref.values.values())
        assert reader.info().reference_calibrated


def test_enzyme_run_behaves_like_gb_t_5009_199(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        reader.controls.load_enzyme_sample(1, inhibitor=2.0)  # strong OP residue
        reader.controls.load_enzyme_sample(2, inhibitor=0.0, pigment=0.4)  # coloured leaf
        run = reader.run_enzyme([0, 1, 2], duration_s=180, interval_s=10)
        assert_enzyme_matches_truth(run, truth_records(tmp_path)[run.run_id])
        control, sample, coloured = (run.curves[ch] for ch in (0, 1, 2))
        assert control.times_s[0] == 0 and control.times_s[-1] == 180
        assert len(control.absorbance) == 19
        delta = {ch: c.absorbance[-1] - c.absorbance[0] for ch, c in run.curves.items()}
        assert 0.3 <= delta[0] <= 0.8  # the control ΔA the standard asks for
        assert delta[1] < 0.5 * delta[0]  # inhibited: the kiosk would call this positive
        assert coloured.absorbance[0] > control.absorbance[0] + 0.3  # colour is an offset
        assert abs(delta[2] - delta[0]) < 0.1 * delta[0]
        assert all(23 < t < 27 for t in run.temperatures_c)
        assert all(b >= a - 0.01 for a, b in itertools.pairwise(sample.absorbance))


def test_strip_profile_has_t_and_c_lines(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        negative = reader.read_strip()
        reader.controls.load_strip(ratio=4.0)
        positive = reader.read_strip()
        reader.controls.load_strip(ratio=0.0, c_line=0.0)
        invalid = reader.read_strip()
    truth = truth_records(tmp_path)
    for profile in (negative, positive, invalid):
        assert list(profile.intensities) == truth[profile.run_id]["data"]["profile"]
        assert profile.step_mm == 0.1 and len(profile.intensities) == 400

    def peak(p, mm):
        i = round(mm / p.step_mm)
        return max(p.intensities[i - 10 : i + 10])

    assert peak(negative, 15) > 500 and peak(negative, 25) > 500
    assert peak(positive, 15) < 0.4 * peak(positive, 25)  # competitive: T fades
    assert peak(invalid, 25) < 150  # no C line


def test_bad_input_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="kind"):
        open_test_reader("bluetooth")
    with pytest.raises(ValueError, match="port"):
        open_test_reader("serial")
    with simulated_reader(tmp_path) as reader:
        with pytest.raises(ValueError, match="channel 12"):
            reader.run_enzyme([12])
        with pytest.raises(ValueError, match="repeats"):
            reader.run_enzyme([1, 1])
        with pytest.raises(ValueError, match="interval"):
            reader.run_enzyme([0], duration_s=10, interval_s=20)
        with pytest.raises(DeviceError, match="BUSY"):
            # a second run while one is going is refused by the device itself
            t = threading.Thread(target=reader.run_enzyme, args=([0],), kwargs={"duration_s": 60})
            t.start()
            time.sleep(0.1)
            try:
                reader.read_strip()
            finally:
                t.join()


def test_reset_mid_measurement_gives_an_error_and_no_result(tmp_path) -> None:
    with simulated_reader(tmp_path, time_scale=120) as reader:
        boot = reader.info().boot_id
        reader.controls.reset_mid_run(0.5)
        with pytest.raises(DeviceResetError, match="rebooted"):
            reader.run_enzyme([0, 1], duration_s=180, interval_s=10)
        assert truth_records(tmp_path) == {}  # the device never finished it
        after = reader.info()  # same host objects, re-synchronised on their own
        assert after.boot_id != boot and after.boot_reason == "watchdog"
        run = reader.run_enzyme([0, 1], duration_s=60, interval_s=10)
        assert_enzyme_matches_truth(run, truth_records(tmp_path)[run.run_id])


def test_unplug_and_replug_recovers_without_restart(tmp_path) -> None:
    with simulated_reader(tmp_path, time_scale=60) as reader:
        path = reader.simulator.link_path
        boot = reader.info().boot_id
        reader.controls.unplug(1.0)
        with pytest.raises(DeviceDisconnectedError, match="went away"):
            reader.run_enzyme([0], duration_s=180, interval_s=10)
        assert not path.exists()  # the device node really went away
        events = []
        while not reader.link.events.empty():
            events.append(reader.link.events.get_nowait().kind)
        assert "disconnected" in events
        info = reader.info()  # waits for the replug and the new handshake
        assert path.exists() and info.boot_id != boot
        run = reader.run_enzyme([0], duration_s=30, interval_s=10)
        assert len(run.curves[0].absorbance) == 4
