"""Operating the web service: its TOML is checked key by key, the example config and the
simulation config load and agree with the simulated kiosk, the systemd units pass
``systemd-analyze verify``, ``station serve --help`` answers, accounts are made from the
command line with the password on stdin, and /healthz reports."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support.web import county_web  # noqa: F401  (fixture)

from kiosk.config import load_config
from station.db import Database
from station.web.config import WebConfigError, load_web_config, parse_web_config

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "docs" / "deploy" / "station"
HOST_UNITS = Path("/usr/lib/systemd/system")


def test_the_example_config_loads() -> None:
    config = load_web_config(ROOT / "docs" / "deploy" / "station.example.toml")
    assert config.security.cookie_secure is True
    assert config.verify.verify_urls == ["HTTPS://QS.EXAMPLE.GOV.CN/V/"]
    assert config.database.url.startswith("postgresql://")


def test_the_simulation_kiosk_prints_the_simulation_page() -> None:
    web = load_web_config(None)
    kiosk = load_config(None)
    assert kiosk.certificate.verify_url in web.verify.verify_urls
    assert f":{web.server.port}/" in kiosk.certificate.verify_url
    assert kiosk.device.county == web.verify.county
    assert web.simulation is True


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"verify": {"county": "330100", "verify_urls": ["HTTPS://A/V/"]}, "sever": {}}, "sever"),
        ({"verify": {"county": "330100", "verify_urls": ["https://lower/v/"]}}, "verify_urls"),
        ({"verify": {"county": "330100", "verify_urls": []}}, "verify_urls"),
        ({"verify": {"county": "330100", "verify_urls": ["HTTPS://A/V/"]},
          "server": {"port": 70000}}, "server.port"),
        ({}, "verify"),
    ],
)  # fmt: skip
def test_a_bad_key_is_named(doc: dict, key: str) -> None:
    with pytest.raises(WebConfigError, match=re.escape(key)):
        parse_web_config(doc)


def _verify_root(tmp_path: Path, units: list[Path]) -> Path:
    root = tmp_path / "root"
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    target = root / "etc/systemd/system"
    target.mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, target / unit.name)
        for line in unit.read_text().splitlines():
            match = re.match(r"^Exec\w+=[-@:+!]*(/\S+)", line)
            if match:
                stub = root / match.group(1).lstrip("/")
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\n")
                stub.chmod(0o755)
    return root


def test_the_county_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    units = sorted([*UNITS.glob("*.service"), *UNITS.glob("*.timer")])
    assert {u.name for u in units} == {
        "agriqs-station-web.service", "agriqs-station-collect.service",
        "agriqs-station-trust.service", "agriqs-station-trust.timer",
        "agriqs-station-holds.service", "agriqs-station-share.service",
        "agriqs-station-time.service",
    }  # fmt: skip
    root = _verify_root(tmp_path, units)
    result = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={root}", *(u.name for u in units)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_serve_help_answers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "station.cli", "serve", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--config" in result.stdout and "/healthz" in result.stdout


def test_a_bad_config_stops_serve_with_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "station.toml"
    bad.write_text(
        '[verify]\ncounty = "330100"\nverify_urls = ["HTTPS://A/V/"]\n[server]\nprot = 1\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "station.cli", "serve", "--config", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "server.prot: unknown key" in result.stderr


def test_accounts_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text(
        f'simulation = true\n[database]\nurl = "{tmp_path / "c.db"}"\n'
        "[security]\ncookie_secure = false\nargon2_memory_kib = 8192\n"
        '[verify]\ncounty = "330100"\nverify_urls = ["HTTPS://A/V/"]\n'
    )

    def station(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "station.cli", "accounts", *args, "--config", str(config)],
            cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert station("add-market", "城东农贸市场", "--township", "城东镇").returncode == 0
    made = station("add", "li", "--role", "inspector", "--market", "城东农贸市场",
                   stdin="a-long-password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    short = station("add", "wu", "--role", "viewer", stdin="short\n")
    assert short.returncode == 1 and "密码至少" in short.stderr
    orphan = station("add", "xu", "--role", "buyer", stdin="a-long-password\n")
    assert orphan.returncode == 1 and "市场" in orphan.stderr
    listing = station("list")
    assert "li\tinspector\t城东农贸市场" in listing.stdout
    with Database(tmp_path / "c.db") as db:
        stored = db.query("SELECT password_hash FROM accounts WHERE username = 'li'")[0][0]
        assert stored.startswith("$argon2id$") and "a-long-password" not in stored
        actions = [r[0] for r in db.query("SELECT action FROM web_audit ORDER BY id")]
    assert actions == ["market_add", "account_add"]


def test_health(county_web) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    doc = httpx.get(server.url + "/healthz").json()
    assert doc["ok"] is True and doc["schema"] >= 3 and doc["charts"] is True
    assert doc["kiosk_keys"] == 1
