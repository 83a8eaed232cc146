"""systemd units, udev rules and drop-ins: checked by systemd itself where it can.

``systemd-analyze verify`` runs against a throw-away root holding the host's
stock units, our units and stub executables at the paths the units name (so
the check is about our files, not about what this machine has installed).
Any diagnostic at all fails the test, warnings such as unknown keys included.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).parents[1] / "systemd"
UNITS = sorted(
    p for p in (SYSTEMD / "system").iterdir() if p.suffix in {".service", ".timer", ".path"}
)
HOST_UNITS = Path("/usr/lib/systemd/system")


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.fail("systemd-analyze is missing: run `apt-get install -y systemd`")
    return found


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


def _verify(root: Path, names: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", f"--root={root}", *names],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_units_exist():
    names = {u.name for u in UNITS}
    assert {
        "agriqs-kiosk.service", "agriqs-agent.service", "agriqs-backup.service",
        "agriqs-backup.timer", "agriqs-update.service", "agriqs-update.path",
        "agriqs-update-recover.service",
    } <= names  # fmt: skip


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify(unit: Path, tmp_path: Path):
    root = _verify_root(tmp_path, UNITS)
    done = _verify(root, [unit.name])
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )


def test_verify_catches_a_typo(tmp_path: Path):
    """The check above can fail: a misspelt key in a copy of the kiosk unit is reported."""
    broken = tmp_path / "src" / "agriqs-kiosk.service"
    broken.parent.mkdir()
    broken.write_text((SYSTEMD / "system/agriqs-kiosk.service").read_text().replace(
        "WatchdogSec=", "WatchDogSec="))  # fmt: skip
    done = _verify(_verify_root(tmp_path, [broken]), [broken.name])
    assert "WatchDogSec" in done.stderr


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keep key case
    parser.read_string(
        # configparser keeps only the last of repeated keys; join them as systemd does.
        _join_repeats((SYSTEMD / "system" / name).read_text())
    )
    return parser


def _join_repeats(text: str) -> str:
    out, seen = [], {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
            out.append(line)
            continue
        match = re.match(r"^(\w+)=(.*)$", line)
        if match and (section, match.group(1)) in seen:
            out[seen[(section, match.group(1))]] += " " + match.group(2)
            continue
        if match:
            seen[(section, match.group(1))] = len(out)
        out.append(line)
    return "\n".join(out)


def test_kiosk_ui_unit_is_a_watched_notify_service():
    service = _unit("agriqs-kiosk.service")["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert int(service["WatchdogSec"].rstrip("s")) >= 10
    assert service["NotifyAccess"] == "all"  # the UI runs as cage's child
    assert "-u WATCHDOG_PID" in service["ExecStart"]
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert "/var/lib/agriqs" in service["ReadWritePaths"].split()
    assert set(service["SupplementaryGroups"].split()) == {
        "video", "render", "input", "lp", "dialout", "gpio"
    }  # fmt: skip
    assert "getty@tty1.service" in _unit("agriqs-kiosk.service")["Unit"]["Conflicts"]


def test_agent_is_separate_and_has_no_hardware():
    service = _unit("agriqs-agent.service")["Service"]
    assert service["Type"] == "notify" and service["Restart"] == "always"
    assert "SupplementaryGroups" not in service
    assert service["PrivateDevices"] == "yes"
    assert "agriqs-kiosk" not in _unit("agriqs-agent.service")["Unit"].get("Requires", "")
    assert "agriqs-kiosk" not in _unit("agriqs-agent.service")["Unit"].get("BindsTo", "")


def test_recovery_runs_before_the_kiosk_starts():
    unit = _unit("agriqs-update-recover.service")["Unit"]
    assert {"agriqs-kiosk.service", "agriqs-agent.service"} <= set(unit["Before"].split())


JOURNALD_KEYS = {
    "Storage", "Compress", "SystemMaxUse", "SystemKeepFree", "SystemMaxFileSize",
    "MaxRetentionSec", "SyncIntervalSec", "RateLimitIntervalSec", "RateLimitBurst",
    "RuntimeMaxUse",
}  # fmt: skip


def test_journald_dropin_limits_the_journal():
    parser = configparser.ConfigParser()
    parser.optionxform = str
    parser.read(SYSTEMD / "journald.conf.d" / "agriqs.conf")
    journal = parser["Journal"]
    assert set(journal) <= JOURNALD_KEYS, set(journal) - JOURNALD_KEYS
    assert re.fullmatch(r"\d+M", journal["SystemMaxUse"])
    assert int(journal["SystemMaxUse"][:-1]) <= 256


UDEV_TOKEN = re.compile(
    r'\s*(?P<key>[A-Z_]+)(\{(?P<attr>[^}]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*(,|$)'
)
UDEV_KEYS = {
    "ACTION", "SUBSYSTEM", "KERNEL", "DRIVER", "ATTR", "ATTRS", "ENV", "MODE", "GROUP",
    "SYMLINK", "RUN", "GOTO", "LABEL", "TAG",
}  # fmt: skip


def _udev_rules() -> list[tuple[Path, list[dict]]]:
    rules = []
    for path in sorted((SYSTEMD / "udev").glob("*.rules")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            tokens, pos = [], 0
            while pos < len(line):
                match = UDEV_TOKEN.match(line, pos)
                assert match, f"{path.name}:{number}: cannot parse at {line[pos : pos + 30]!r}"
                assert match["key"] in UDEV_KEYS, f"{path.name}:{number}: {match['key']}"
                tokens.append(match.groupdict())
                pos = match.end()
            rules.append((path, tokens))
    return rules


def test_udev_rules_parse_and_gotos_have_labels():
    rules = _udev_rules()
    labels = {t["value"] for _, toks in rules for t in toks if t["key"] == "LABEL"}
    gotos = {t["value"] for _, toks in rules for t in toks if t["key"] == "GOTO"}
    assert gotos <= labels


def test_udev_rules_cover_the_named_parts():
    text = (SYSTEMD / "udev" / "70-agriqs-devices.rules").read_text()
    for vid, pid in [("0416", "5011"), ("0483", "5720"), ("28e9", "0289"), ("1fc9", "2016")]:
        assert (
            f'ATTR{{idVendor}}=="{vid}", ATTR{{idProduct}}=="{pid}", MODE="0660", GROUP="lp"'
            in text
        )
        assert f'DRIVER=="usblp", ATTRS{{idVendor}}=="{vid}", ATTRS{{idProduct}}=="{pid}"' in text
    for vid, pid in [("1a86", "7523"), ("10c4", "ea60"), ("0403", "6001")]:
        line = next(x for x in text.splitlines() if f'"{vid}", ATTRS{{idProduct}}=="{pid}"' in x)
        assert 'SYMLINK+="agriqs-reader"' in line and 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line
    scanner_lines = [x for x in text.splitlines() if "agriqs-scanner" in x and "input" in x]
    assert scanner_lines and all('GROUP="input"' in x for x in scanner_lines)
