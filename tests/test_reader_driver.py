"""What only the simulated reader shows: its chemistry and optics, and its bench controls.

The TestReader contract (shapes, errors, reset, unplug, refused images, close) runs
on every reader backend in tests/test_contract_reader.py."""

from __future__ import annotations

import itertools

import pytest
from support.reader import assert_enzyme_matches_truth, simulated_reader, truth_records

from drivers.reader import open_test_reader
from drivers.reader.sim.reader import SimulatorControlError


def test_simulated_optics_calibrate_like_the_part(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        assert reader.info().firmware_version == "1.0.0"
        assert 0.5 < reader.health().lamp_relative <= 1.0
        blank = reader.calibrate_blank([0, 3])
        assert all(40000 < v < 60000 for v in blank.values.values())  # detector counts
        ref = reader.calibrate_reference()
        assert all(abs(a - 0.5) < 0.02 for a in ref.values.values())  # the 0.500 AU filter


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


def test_factory_rejects_unknown_kinds_and_a_serial_reader_without_port() -> None:
    with pytest.raises(ValueError, match="kind"):
        open_test_reader("bluetooth")
    with pytest.raises(ValueError, match="port"):
        open_test_reader("serial")


def test_bench_controls_refuse_what_the_part_cannot_be_given(tmp_path) -> None:
    with simulated_reader(tmp_path) as reader:
        with pytest.raises(ValueError, match="channel 12 outside"):
            reader.controls.load_enzyme_sample(12, inhibitor=1.0)
        with pytest.raises(ValueError, match=r"bit error rate must be in \[0, 0.5\)"):
            reader.controls.set_bit_error_rate(0.7)
        reader.controls.load_enzyme_sample(11, inhibitor=1.0)  # and the channel still works
        assert reader.run_enzyme([11], duration_s=20, interval_s=10).curves[11]
    with pytest.raises(SimulatorControlError):  # the simulator is gone with its reader
        reader.controls.set_ambient(25.0)
