"""The ``TestReader`` contract, run against every reader backend that can run here.

Each test runs over tests/support/reader_rigs.py's backends: the kiosk's simulated
reader, and the real ``BridgeTestReader`` opened as ``kind="serial"`` on the
simulator's pty. What the seam promises (drivers/reader/base.py): raw data of fixed
shapes; bad arguments are ValueError before anything is sent; everything the part or
the link does wrong is a ``readerlink.errors.LinkError`` subclass (DeviceError for a
refusal, DeviceResetError, DeviceDisconnectedError), and the same reader object
carries on once the part is back; a refused image is ``FirmwareUpdateError``;
``close()`` is idempotent. The real class carries no bench controls.
"""

from __future__ import annotations

import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.reader import assert_enzyme_matches_truth
from support.reader_rigs import BACKENDS, RELEASE_KEY, ReaderRig, reader_rig

from drivers.reader import (
    BridgeTestReader,
    CalibrationResult,
    DeviceDisconnectedError,
    DeviceError,
    DeviceResetError,
    EnzymeRun,
    FirmwareUpdateError,
    LinkError,
    ReaderHealth,
    ReaderInfo,
    SelfTestReport,
    StripProfile,
    TestReader,
)
from readerlink.firmware_image import SignedFirmware, build_test_image, sign_image
from readerlink.messages import PROTOCOL_VERSION, Status

CAPABILITIES = {"enzyme_412nm", "strip", "fw_update", "temp_control"}
BOOT_REASONS = {"power_on", "watchdog", "reset", "update", "rollback"}


@pytest.fixture(params=BACKENDS)
def rig(request, tmp_path):
    with reader_rig(request.param, tmp_path) as r:
        yield r


def test_the_reader_is_a_test_reader_and_only_the_simulated_one_has_controls(rig) -> None:
    assert isinstance(rig.reader, TestReader)
    assert not hasattr(BridgeTestReader, "controls")
    if rig.backend == "serial":
        assert type(rig.reader) is BridgeTestReader and not hasattr(rig.reader, "controls")
    assert rig.reader.time_scale > 0


def test_info_is_the_handshake(rig: ReaderRig) -> None:
    info = rig.reader.info()
    assert isinstance(info, ReaderInfo)
    assert info.protocol_version == PROTOCOL_VERSION == 2 and info.channels == 12
    assert info.firmware_version and info.serial_number
    assert {"enzyme_412nm", "strip", "fw_update"} <= info.capabilities <= CAPABILITIES
    assert info.boot_reason in BOOT_REASONS and info.active_slot in (0, 1)
    assert info.blank_calibrated and not info.reference_calibrated
    assert isinstance(info.calibration_age_s, int)


def test_self_test_and_health_report_figures(rig: ReaderRig) -> None:
    report = rig.reader.self_test()
    assert isinstance(report, SelfTestReport)
    assert report.passed and report.failures == ()
    assert 0 < report.lamp_relative <= 1 and report.dark_counts >= 0
    health = rig.reader.health()
    assert isinstance(health, ReaderHealth)
    assert 0 < health.lamp_relative <= 1 and health.lamp_hours > 0
    assert 15 < health.temperature_c < 35 and isinstance(health.temperature_ok, bool)


def test_calibration_returns_values_per_channel_and_is_remembered(rig: ReaderRig) -> None:
    blank = rig.reader.calibrate_blank([0, 3])
    assert isinstance(blank, CalibrationResult)
    assert blank.kind == "blank" and set(blank.values) == {0, 3}
    reference = rig.reader.calibrate_reference()
    assert reference.kind == "reference" and set(reference.values) == set(range(12))
    assert rig.reader.info().reference_calibrated


def test_an_enzyme_run_is_every_point_of_every_channel_as_measured(rig: ReaderRig) -> None:
    run = rig.reader.run_enzyme([2, 0], duration_s=30, interval_s=10)
    assert isinstance(run, EnzymeRun) and set(run.curves) == {0, 2}
    for channel, curve in run.curves.items():
        assert curve.channel == channel and curve.times_s == (0.0, 10.0, 20.0, 30.0)
        assert len(curve.absorbance) == 4
    assert len(run.temperatures_c) == 4
    assert_enzyme_matches_truth(run, rig.truth()[run.run_id])


def test_a_strip_read_is_the_whole_profile_as_measured(rig: ReaderRig) -> None:
    profile = rig.reader.read_strip()
    assert isinstance(profile, StripProfile) and profile.step_mm > 0
    assert list(profile.intensities) == rig.truth()[profile.run_id]["data"]["profile"]


def test_bad_arguments_are_value_errors(rig: ReaderRig) -> None:
    reader = rig.reader
    with pytest.raises(ValueError, match="channel 12"):
        reader.run_enzyme([12])
    with pytest.raises(ValueError, match="repeats"):
        reader.run_enzyme([1, 1])
    with pytest.raises(ValueError, match="non-empty"):
        reader.calibrate_blank([])
    with pytest.raises(ValueError, match="interval"):
        reader.run_enzyme([0], duration_s=10, interval_s=20)
    assert rig.truth() == {}  # nothing reached the device


def test_a_refusal_by_the_part_is_a_device_error(rig: ReaderRig) -> None:
    # a second run while one is going is refused by the device itself
    first = threading.Thread(target=rig.reader.run_enzyme, args=([0],), kwargs={"duration_s": 60})
    first.start()
    time.sleep(0.1)
    try:
        with pytest.raises(DeviceError, match="BUSY") as info:
            rig.reader.read_strip()
    finally:
        first.join()
    assert isinstance(info.value, LinkError) and info.value.code == Status.BUSY


def test_a_reset_mid_run_is_an_error_and_the_reader_carries_on(rig: ReaderRig) -> None:
    boot = rig.reader.info().boot_id
    rig.controls.reset_mid_run(0.5)
    with pytest.raises(DeviceResetError, match="rebooted"):
        rig.reader.run_enzyme([0, 1], duration_s=180, interval_s=10)
    assert rig.truth() == {}  # the device never finished it: no half result either
    after = rig.reader.info()  # same objects, re-synchronised on their own
    assert after.boot_id != boot and after.boot_reason == "watchdog"
    run = rig.reader.run_enzyme([0, 1], duration_s=60, interval_s=10)
    assert_enzyme_matches_truth(run, rig.truth()[run.run_id])


def test_an_unplugged_reader_is_disconnected_and_comes_back(rig: ReaderRig) -> None:
    boot = rig.reader.info().boot_id
    rig.controls.unplug(1.0)
    with pytest.raises(DeviceDisconnectedError, match="went away"):
        rig.reader.run_enzyme([0], duration_s=180, interval_s=10)
    assert not rig.link_path.exists()  # the device node really went away
    info = rig.reader.info()  # waits for the replug and the new handshake
    assert rig.link_path.exists() and info.boot_id != boot
    run = rig.reader.run_enzyme([0], duration_s=30, interval_s=10)
    assert len(run.curves[0].absorbance) == 4


def test_a_refused_image_is_a_firmware_update_error_and_the_old_one_runs(rig) -> None:
    size = 8 * 1024
    rogue = sign_image(build_test_image("6.6.6", size), "6.6.6", Ed25519PrivateKey.generate())
    with pytest.raises(FirmwareUpdateError, match="FW_BAD_SIGNATURE") as err:
        rig.reader.flash_firmware(rogue)
    assert err.value.__cause__.code == Status.FW_BAD_SIGNATURE
    good = sign_image(build_test_image("2.0.0", size), "2.0.0", RELEASE_KEY)
    tampered = SignedFirmware(good.image[:-1] + b"\x00", "2.0.0", good.sha256, good.signature)
    with pytest.raises(FirmwareUpdateError, match="FW_BAD_HASH"):
        rig.reader.flash_firmware(tampered)
    assert rig.reader.info().firmware_version == "1.0.0"
    run = rig.reader.run_enzyme([0], duration_s=30, interval_s=10)
    assert len(run.curves[0].absorbance) == 4


def test_close_is_idempotent_and_a_closed_reader_raises_link_errors(rig: ReaderRig) -> None:
    rig.reader.close()
    rig.reader.close()
    with pytest.raises(LinkError, match="closed"):
        rig.reader.health()
    with pytest.raises(LinkError):
        rig.reader.info()
