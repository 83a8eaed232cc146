"""Protocol versions over a real pty: a version-2 host meets a version-1 reader at
version 1, a version-1 host still drives a version-2 reader, and two version-2 ends
carry a signed firmware image through a 1e-3 bit-error line with SACK and FEC."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.reader import FAST_BAUD, public_hex, simulated_reader, truth_records

from drivers.reader import BridgeTestReader
from drivers.reader.sim.reader import SimulatorProcess
from readerlink.firmware_image import build_test_image, sign_image
from readerlink.host import ReaderLink
from readerlink.messages import MsgType

KEY = Ed25519PrivateKey.generate()


@contextmanager
def _old_host(tmp_path: Path, *sim_args: str) -> Iterator[BridgeTestReader]:
    """A host that speaks only version 1, as kiosks did before version 2."""
    sim = SimulatorProcess(
        tmp_path / "ttyREADER",
        baudrate=FAST_BAUD,
        time_scale=180,
        extra_args=["--truth-log", str(tmp_path / "truth.jsonl"), *sim_args],
    )
    link = ReaderLink(os.fspath(sim.start()), FAST_BAUD, protocol_version=1)
    try:
        link.open(timeout=10)
        reader = BridgeTestReader(link)
        yield reader
        reader.close()
    finally:
        link.close()
        sim.stop()


def test_new_host_meets_an_old_reader_at_version_1(tmp_path) -> None:
    args = ["--protocol-version", "1", "--trusted-key", public_hex(KEY)]
    with simulated_reader(tmp_path, args=args) as reader:
        assert reader.link.protocol_version == 1
        assert reader.info().protocol_version == 1
        profile = reader.read_strip()
        assert reader.link.stats()["protocol_version"] == 1
        image = sign_image(build_test_image("2.0.0", 8 * 1024), "2.0.0", KEY)
        assert reader.flash_firmware(image).firmware_version == "2.0.0"
        assert reader.link.protocol_version == 1  # again after the reboot
    truth = truth_records(tmp_path)
    assert list(profile.intensities) == truth[profile.run_id]["data"]["profile"]


def test_old_host_still_drives_a_new_reader(tmp_path) -> None:
    with _old_host(tmp_path) as reader:
        assert reader.link.protocol_version == 1 == reader.info().protocol_version
        assert reader.health().lamp_relative > 0
        run = reader.run_enzyme([0, 1], duration_s=30, interval_s=10)
        assert len(run.curves[0].absorbance) == 4
        assert reader.link.stats()["protocol_version"] == 1


def test_v2_carries_an_image_through_a_noisy_line(tmp_path) -> None:
    args = ["--trusted-key", public_hex(KEY), "--bit-error-rate", "1e-3", "--seed", "5"]
    with simulated_reader(tmp_path, args=args, request_timeout=10) as reader:
        link = reader.link
        assert link.protocol_version == 2
        for _ in range(20):
            link.request(MsgType.HEALTH)  # the reader's SACKs report the line it hears
        assert link.stats()["tx_byte_error_rate"] > 1e-3
        assert link.frame_plan(244).nsym > 0
        image = sign_image(build_test_image("2.0.0", 16 * 1024), "2.0.0", KEY)
        # The bootloader checks SHA-256 and the signature: success means every byte.
        assert reader.flash_firmware(image).firmware_version == "2.0.0"
        stats = link.stats()
        assert stats["protocol_version"] == 2 and stats["crc_errors"] + stats["frames"] > 0
