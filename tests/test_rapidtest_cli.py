"""kiosk reader|test|holds commands against the simulated reader."""

from __future__ import annotations

import argparse
import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.rapidtest import service
from support.reader import public_hex, simulated_reader

from app.cli_reader import EXIT_OK, EXIT_READER, EXIT_REFUSED, add_commands, run_command
from readerlink.firmware_image import build_test_image, sign_image

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def station(kiosk, tmp_path):
    with simulated_reader(tmp_path / "reader", args=["--trusted-key", public_hex(KEY)]) as reader:
        kiosk.reader = reader
        kiosk.rapid_tests = service(kiosk, reader)
        yield kiosk


def cli(kiosk, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="kiosk")
    add_commands(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = run_command(parser.parse_args(list(argv)), kiosk, out)
    return code, out.getvalue()


def test_reader_info_selftest_calibrate(station) -> None:
    code, text = cli(station, "reader", "info", "--json")
    info = json.loads(text)
    assert code == EXIT_OK and info["channels"] == 12 and "strip" in info["capabilities"]
    code, text = cli(station, "reader", "selftest")
    assert code == EXIT_OK and "PASSED" in text
    code, text = cli(station, "reader", "calibrate", "--channels", "0,1")
    assert code == EXIT_OK and text.startswith("blank: ch0=") and "reference: ch0=0.5" in text
    assert json.loads(cli(station, "reader", "info", "--json")[1])["reference_calibrated"]


def test_register_run_positive_twice_then_holds(station, capsys) -> None:
    assert cli(station, "test", "register", "--sample", "S-1", "--producer", "张秀英",
               "--phone", "13812345678", "--product", "V001",
               "--inputs", "organophosphate")[0] == EXIT_OK  # fmt: skip
    station.reader.controls.load_enzyme_sample(1, inhibitor=2.0)
    code, text = cli(station, "test", "run", "--method", "GBT5009199", "--sample", "S-1")
    assert code == EXIT_OK and "SUSPICIOUS" in text and "retest_required" in text
    assert "剩余 3:00" in capsys.readouterr().err  # the countdown starts at the full 3 minutes
    code, text = cli(station, "test", "run", "--method", "GBT5009199", "--sample", "S-1")
    assert code == EXIT_OK and "retest_required" in text  # GB/T 5009.199: two more portions
    code, text = cli(station, "test", "run", "--method", "GBT5009199", "--sample", "S-1", "--json")
    (result,) = json.loads(text)["results"]
    assert code == EXIT_OK and result["verdict"] == "positive" and result["portion"] == 3
    code, text = cli(station, "holds", "--json")
    (hold,) = json.loads(text)
    assert hold["product_code"] == "V001" and result["test_id"] in hold["reason"]
    assert cli(station, "holds", "lift", str(hold["id"]), "--by", "county:inspector-7")[0] == 0
    assert cli(station, "holds", "list")[1].strip() == "no open holds"
    assert cli(station, "holds", "lift", str(hold["id"]), "--by", "x")[0] == EXIT_REFUSED
    code, text = cli(station, "test", "list", "--sample", "S-1")
    assert code == EXIT_OK and len(text.strip().splitlines()) == 3


def test_strip_run_and_refusals(station) -> None:
    cli(station, "test", "register", "--sample", "E-1", "--producer", "张秀英",
        "--phone", "13812345678", "--product", "E001")  # fmt: skip
    code, text = cli(station, "test", "run", "--method", "STRIP-FIP-EGG", "--sample", "E-1",
                     "--applied-minutes-ago", "6")  # fmt: skip
    assert code == EXIT_OK and "NEGATIVE" in text and "T/C" in text
    assert cli(station, "test", "run", "--method", "GBT5009199", "--sample", "E-1")[0] == 1
    assert cli(station, "test", "run", "--method", "NOPE", "--sample", "E-1")[0] == 1
    bad = cli(station, "test", "register", "--sample", "E-2", "--producer", "张",
              "--phone", "1", "--product", "E001")  # fmt: skip
    assert bad[0] == EXIT_REFUSED


def test_reset_mid_run_exits_with_reader_error(station) -> None:
    cli(station, "test", "register", "--sample", "S-9", "--producer", "张秀英",
        "--phone", "13812345678", "--product", "V001")  # fmt: skip
    station.reader.controls.reset_mid_run(0.5)
    code, _ = cli(station, "test", "run", "--method", "GBT5009199", "--sample", "S-9")
    assert code == EXIT_READER and cli(station, "test", "list")[1] == "no rapid-test results\n"


def test_flash_signed_image_and_refuse_a_tampered_one(station, tmp_path) -> None:
    firmware = sign_image(build_test_image("2.0.0", 8 * 1024), "2.0.0", KEY)
    image = tmp_path / "reader-2.0.0.bin"
    image.write_bytes(firmware.image)
    manifest = {"version": "2.0.0", "signature": firmware.signature.hex(),
                "sha256": firmware.sha256.hex()}  # fmt: skip
    (tmp_path / "reader-2.0.0.bin.json").write_text(json.dumps(manifest))
    code, text = cli(station, "reader", "flash", str(image))
    assert code == EXIT_OK and "2.0.0" in text
    image.write_bytes(firmware.image[:-1] + b"\0")
    assert cli(station, "reader", "flash", str(image))[0] == EXIT_REFUSED  # hash mismatch
    assert json.loads(cli(station, "reader", "info", "--json")[1])["firmware_version"] == "2.0.0"


def test_kit_lots_by_file_and_a_run_names_its_lot(station, tmp_path) -> None:
    today = station.clock().date()
    old, good = tmp_path / "old.toml", tmp_path / "good.toml"
    old.write_text(f'lot = "EZ-1"\nmethod = "GBT5009199"\nexpires = "{today.replace(year=2020)}"\n')
    good.write_text(
        f'lot = "EZ-2"\nmethod = "GBT5009199"\nexpires = "{today.replace(year=2099)}"\n'
    )
    assert cli(station, "test", "kit", "add", str(old))[0] == EXIT_OK
    code, text = cli(station, "test", "kit", "add", str(good), "--json")
    assert code == EXIT_OK and json.loads(text)[0]["lot"] == "EZ-2"
    assert [k["lot"] for k in json.loads(cli(station, "test", "kit", "list", "--json")[1])] == [
        "EZ-1", "EZ-2",
    ]  # fmt: skip
    cli(station, "test", "register", "--sample", "S-7", "--producer", "张秀英",
        "--phone", "13812345678", "--product", "V001")  # fmt: skip
    run = ("test", "run", "--method", "GBT5009199", "--sample", "S-7", "--tester", "王技术员")
    assert cli(station, *run, "--kit-lot", "EZ-1")[0] == EXIT_REFUSED  # expired
    assert cli(station, *run, "--kit-lot", "EZ-9")[0] == EXIT_REFUSED  # unknown
    code, text = cli(station, *run, "--kit-lot", "EZ-2", "--json")
    (result,) = json.loads(text)["results"]
    assert code == EXIT_OK and (result["kit_lot"], result["tester"]) == ("EZ-2", "王技术员")
    bad = tmp_path / "bad.toml"
    bad.write_text('lot = "X"\nmethod = "GBT5009199"\n')
    assert cli(station, "test", "kit", "add", str(bad))[0] == EXIT_REFUSED
