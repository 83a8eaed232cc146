"""The `kiosk` command line, run as a real process over a temporary data directory."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from wire.clock import CST
from wire.signing import SigningKey
from wire.trust import TrustedKey, TrustList


def kiosk_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


ISSUE = [
    "issue", "--issuer", "王建国", "--phone", "13912345678", "--product", "番茄",
    "--quantity", "30", "--origin", "浙江省杭州市示范镇东村", "--json",
]  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_issue_verify_reprint_void_list_export(data: Path, tmp_path: Path) -> None:
    issued = kiosk_cli(data, *ISSUE)
    assert issued.returncode == 0, issued.stderr
    result = json.loads(issued.stdout)
    assert result["number"] == "330100-K001-0000001"
    assert result["printed"] is True and result["status"] == "printed"

    verified = kiosk_cli(data, "verify", result["qr_text"], "--json")
    assert verified.returncode == 0, verified.stdout
    verdict = json.loads(verified.stdout)
    assert verdict["valid"] and verdict["fields"]["product"] == "番茄"
    assert verdict["fields"]["quantity"] == "30公斤"

    tampered = result["qr_text"][:-3] + ("AAA" if not result["qr_text"].endswith("AAA") else "BBB")
    rejected = kiosk_cli(data, "verify", tampered, "--json")
    assert rejected.returncode == 1
    assert json.loads(rejected.stdout)["reason"] in ("bad_signature", "malformed")

    reprinted = kiosk_cli(data, "reprint", result["number"], "--json")
    assert reprinted.returncode == 0 and json.loads(reprinted.stdout)["reprint"] is True

    voided = kiosk_cli(data, "void", result["number"], "--reason", "重复开具")
    assert voided.returncode == 0 and "voided" in voided.stdout
    assert kiosk_cli(data, "reprint", result["number"]).returncode == 1

    listed = kiosk_cli(data, "certificates", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["number"], r["status"], r["print_count"]) for r in rows] == [
        ("330100-K001-0000001", "voided", 2)
    ]
    out = tmp_path / "export.csv"
    exported = kiosk_cli(data, "certificates", "export", "--out", str(out))
    assert exported.returncode == 0
    records = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert records[0]["product_name"] == "番茄" and records[0]["status"] == "voided"

    png = tmp_path / "label.png"
    shown = kiosk_cli(data, "certificates", "show", result["number"], "--png", str(png))
    assert shown.returncode == 0 and png.stat().st_size > 1000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--phone", "12345"), "issuer.phone"),
        (("--product", "稻谷"), "粮食"),
        (("--product", "榴莲"), "产品目录中没有"),
        (("--quantity", "abc"), "数量必须是数字"),
        (("--quantity", "-1"), "大于0"),
    ],
)
def test_refusals_exit_1_with_the_reason(data: Path, change: tuple[str, str], message: str) -> None:
    args = list(ISSUE)
    args[args.index(change[0]) + 1] = change[1]
    result = kiosk_cli(data, *args)
    assert result.returncode == 1
    assert message in result.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[printer]\nprofle = "x"\n', "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(config), "certificates"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "printer.profle: unknown key" in result.stderr


def test_verify_against_a_county_signed_trust_list(data: Path, tmp_path: Path) -> None:
    issued = json.loads(kiosk_cli(data, *ISSUE).stdout)
    own = json.loads(kiosk_cli(data, "keys", "--json").stdout)
    county = SigningKey.generate()
    from wire.signing import decode_public_key

    now = datetime.now(CST)
    entry = TrustedKey("330100", "K001", decode_public_key(own["public_key"]), now - timedelta(1))
    trust = tmp_path / "trust.json"
    trust.write_text(
        json.dumps(TrustList("330100", 1, now, now + timedelta(7), (entry,)).sign(county))
    )
    anchor = county.public_b64
    ok = kiosk_cli(data, "verify", issued["qr_text"], "--trust", str(trust), "--anchor", anchor)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = SigningKey.generate().public_b64
    refused = kiosk_cli(data, "verify", issued["qr_text"], "--trust", str(trust), "--anchor", wrong)
    assert refused.returncode == 2 and "signature" in refused.stderr


def test_backup_now_list_and_restore(data: Path) -> None:
    assert kiosk_cli(data, *ISSUE).returncode == 0
    made = kiosk_cli(data, "backup", "now", "--no-usb")
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.split("local: ")[1].strip())
    assert archive.exists()
    listed = kiosk_cli(data, "backup", "list")
    assert archive.name in listed.stdout and "counter 1" in listed.stdout
    assert kiosk_cli(data, *ISSUE).returncode == 0  # number 2 after the backup
    restored = kiosk_cli(data, "backup", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    again = json.loads(kiosk_cli(data, *ISSUE).stdout)
    assert again["number"] == "330100-K001-0000003"  # never 2 again
    bad = kiosk_cli(data, "backup", "verify", str(data / "nope.tar.gz"))
    assert bad.returncode == 1 and "backup:" in bad.stderr


def test_staff_accounts_from_the_cli_read_the_pin_from_stdin_and_are_audited(data: Path) -> None:
    def staff(*args: str, pin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "--data-dir", str(data), "staff", *args],
            input=pin + "\n", capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    added = staff("add", "王芳", "--role", "staff", pin="246813")
    assert added.returncode == 0, added.stderr
    assert staff("set-pin", "王芳", pin="975312").returncode == 0
    listed = json.loads(staff("list", "--json").stdout)
    assert listed["accounts"] == [
        {"name": "王芳", "role": "staff", "active": True, "source": "cli"}
    ]
    from support.kiosk import configured

    from app.compose import open_kiosk

    with open_kiosk(configured(data)) as kiosk:
        assert kiosk.staff.login("王芳", "975312", "staff").name == "王芳"
        entries = kiosk.audit.entries()
        assert [e.kind for e in entries] == ["staff.added", "pin.changed", "login"]
        assert entries[0].data["by"].startswith("cli:")
    weak = staff("set-pin", "王芳", pin="1234")
    assert weak.returncode == 1 and "refused" in weak.stderr
    assert staff("disable", "王芳").returncode == 0
    assert json.loads(staff("list", "--json").stdout)["accounts"][0]["active"] is False
