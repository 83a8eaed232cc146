"""A newcomer walks the README's command tables with right and wrong inputs.

Every wrong input must end in exactly one line on stderr that names the option, file
or key, with the documented exit code (2 for usage and configuration, 1 refused, 3
recorded but not printed), and never a traceback. The commands run through their real
``main(argv)``; the cases that depend on the process itself (a closed pipe, stderr
being the only thing printed) run the real program as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)

from app import cli as kiosk_cli
from station import cli as station_cli
from wire import cli as boundary
from wire.signing import SigningKey

ISSUE = [
    "issue", "--issuer", "张秀英", "--phone", "13812345678", "--product", "青菜",
    "--quantity", "2", "--origin", "浙江省杭州市示范镇示范村",
]  # fmt: skip


def printer_config(tmp_path: Path, device_file: str) -> Path:
    """A real kiosk's configuration whose printer is a device file."""
    config = tmp_path / "kiosk.toml"
    config.write_text(
        '[certificate]\nverify_url = "HTTPS://QS.COUNTY.GOV.CN/V/"\n'
        f'[printer.transport]\nkind = "file"\ndevice_file = "{device_file}"\n'
        # No systemd here to say the clock is synchronised: an RTC stands in.
        f'[time]\nrtc = true\nrtc_device = "{tmp_path}"\n',
        encoding="utf-8",
    )
    return config


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def kiosk(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, str, str]:
    code = kiosk_cli.main(["--data-dir", str(data), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def station(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = station_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_usage(capsys: pytest.CaptureFixture[str], main: object, argv: list[str]) -> tuple[int, str]:
    """argparse refusals leave through SystemExit; the code and the one line are the point."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)  # type: ignore[operator]  # kiosk_cli.main or station_cli.main
    return int(exit_info.value.code or 0), capsys.readouterr().err


# ---- kiosk: wrong inputs -----------------------------------------------------------------

USAGE_CASES = [
    (["certificates", "export", "--since", "2026/12/01"], "--since"),
    (["certificates", "export", "--since", "20261201"], "--since"),
    (["certificates", "export", "--since", "2026-13-01"], "--since"),
    (["certificates", "export", "--until", "tomorrow"], "--until"),
    (["certificates", "export", "--out", "{tmp}/missing/x.csv"], "missing"),
    (["certificates", "show", "330100-K001-0000001", "--png", "{tmp}/missing/l.png"], "missing"),
    (["certificates", "list", "--limit", "0"], "--limit"),
    (["audit", "list", "--limit", "0"], "--limit"),
    (["test", "list", "--limit", "-5"], "--limit"),
    (["holds", "lift", "abc", "--by", "李"], "hold_id"),
    (["certificates", "list", "--status", "lost"], "--status"),
    (["verify", "HTTPS://X/V/ABC", "--anchor", "AAAA"], "--anchor"),
    ([*ISSUE, "--copies", "0"], "--copies"),
    ([*ISSUE, "--copies", "two"], "--copies"),
    (["reprint", "330100-K001-0000001", "--copies", "0"], "--copies"),
    (["void", "330100-K001-0000001"], "--reason"),
    (["frobnicate"], "frobnicate"),
    (["certificates", "list", "--colour"], "--colour"),
]


@pytest.mark.parametrize(("argv", "named"), USAGE_CASES, ids=lambda v: " ".join(v)[:60])
def test_kiosk_usage_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], named: str
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, err = run_usage(capsys, kiosk_cli.main, ["--data-dir", str(tmp_path / "d"), *argv])
    assert code == 2
    assert named in one_line(err)
    assert not (tmp_path / "missing").exists()


def test_kiosk_config_errors_name_the_file_or_key(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.toml"
    for argv in (
        ["--config", str(missing), "certificates"],
        ["certificates", "--config", str(missing)],  # global options after the subcommand
    ):
        code, _, err = kiosk(capsys, data, *argv)
        assert code == 2 and str(missing) in one_line(err)

    typo = tmp_path / "typo.toml"
    typo.write_text('[printer]\nprofil = "tspl-60x40"\n', "utf-8")
    code, _, err = kiosk(capsys, data, "certificates", "--config", str(typo))
    assert code == 2 and "printer.profil" in one_line(err)

    profile = tmp_path / "profile.toml"
    profile.write_text('[printer]\nprofile = "escpos-58"\n', "utf-8")
    code, _, err = kiosk(capsys, data, "--config", str(profile), *ISSUE)
    assert code == 2 and "escpos-58" in one_line(err)


def test_kiosk_refusals_are_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    code, _, err = kiosk(capsys, data, *ISSUE[:6], "菠萝蜜", *ISSUE[7:])
    assert code == 1 and "product" in one_line(err)
    code, _, err = kiosk(capsys, data, "reprint", "330100-K001-0000042")
    assert code == 1 and "330100-K001-0000042" in one_line(err)
    code, _, err = kiosk(capsys, data, "certificates", "show", "330100-K001-0000042")
    assert code == 1 and "330100-K001-0000042" in one_line(err)
    code, _, err = kiosk(capsys, data, "backup", "verify", str(tmp_path / "none.db"))
    assert code == 1 and "none.db" in one_line(err)
    code, _, err = kiosk(capsys, data, "config", "apply", str(tmp_path / "bundle.json"))
    assert code == 2 and "bundle.json" in one_line(err)
    code, _, err = kiosk(capsys, data, "holds", "lift", "7", "--by", "李")
    assert code == 1 and "7" in one_line(err)


def test_empty_lists_say_so(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    for argv, words in (
        (["certificates"], "no certificates"),
        (["certificates", "list", "--status", "voided"], "no voided certificates"),
        (["test", "list"], "no rapid-test results"),
        (["holds"], "no open holds"),
        (["backup", "list"], "no backups"),
    ):
        code, out, err = kiosk(capsys, data, *argv)
        assert code == 0, err
        assert words in out + err, argv
    code, out, _ = kiosk(capsys, data, "certificates", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_global_options_before_or_after_the_subcommand(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    code, out, err = kiosk(capsys, data, *ISSUE, "--json")
    assert code == 0, err
    number = json.loads(out)["number"]
    code, out, _ = (
        kiosk_cli.main(["certificates", "list", "--data-dir", str(data)]),
        *(capsys.readouterr()),
    )
    assert code == 0 and number in out
    code = kiosk_cli.main(["certificates", "show", number, "--json", "--data-dir", str(data)])
    assert code == 0 and json.loads(capsys.readouterr().out)["number"] == number


def test_export_until_is_exclusive(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    from datetime import timedelta

    from wire.clock import china_time

    code, _, err = kiosk(capsys, data, *ISSUE)
    assert code == 0, err
    today = china_time().date()
    tomorrow = today + timedelta(days=1)
    code, out, _ = kiosk(capsys, data, "certificates", "export", "--until", today.isoformat())
    assert code == 0 and len(out.splitlines()) == 1  # the header only: today is excluded
    code, out, _ = kiosk(capsys, data, "certificates", "export", "--since", today.isoformat(),
                         "--until", tomorrow.isoformat())  # fmt: skip
    assert code == 0 and len(out.splitlines()) == 2 and "青菜" in out
    code, _, err = kiosk(capsys, data, "certificates", "export", "--since",
                         tomorrow.isoformat(), "--until", today.isoformat())  # fmt: skip
    assert code == 2 and "--until" in one_line(err)


def test_file_printer_write_failure_is_recorded_not_printed(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    config = printer_config(tmp_path, "/dev/full")
    code, out, err = kiosk(capsys, data, "--config", str(config), *ISSUE)
    assert code == 3
    assert "recorded, NOT printed" in out and "No space left" in out
    assert err == ""  # the printer's warnings go to the journal, not the operator's screen


# ---- kiosk: commands open only what they use -------------------------------------------


def test_commands_that_do_not_print_never_open_the_printer(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    device = tmp_path / "lp0"  # a `file` printer: opening it creates the file
    config = printer_config(tmp_path, str(device))
    for argv in (["keys"], ["verify", "HTTPS://QS.EXAMPLE.GOV.CN/V/AAAA"], ["certificates"],
                 ["holds"], ["certificates", "export"], ["test", "list"]):  # fmt: skip
        code, _, err = kiosk(capsys, data, *argv, "--config", str(config))
        assert code in (0, 1), err  # verify: INVALID is exit 1
        assert not device.exists(), argv
    code, _, err = kiosk(capsys, data, *ISSUE, "--config", str(config))
    assert code == 0, err
    assert device.stat().st_size > 1000  # the label's bytes went to the printer


def test_update_takes_its_paths_from_the_configuration(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    (data / "update-state").mkdir(parents=True)
    (data / "update-state" / "last-result.json").write_text('{"version": "9"}')
    for argv in (["update", "status"], ["update", "status", "--data-dir", str(data)]):
        code, out, err = kiosk(capsys, data, *argv)
        assert code == 0, err
        status = json.loads(out)
        assert status["active"] is None and status["last"]["version"] == "9"
    code, out, _ = kiosk(capsys, data, "update", "recover")
    assert code == 0 and "nothing to recover" in out
    code, err = run_usage(capsys, kiosk_cli.main, ["--data-dir", str(data), "update", "apply",
                                                   str(tmp_path / "missing.tar")])  # fmt: skip
    assert code == 2 and "missing.tar" in one_line(err)
    code, _, err = kiosk(capsys, data, "update", "apply-incoming")
    assert code == 0 and not Path("/opt/agriqs/venvs").exists()
    # the simulation's install root and release keys are below its data directory
    from kiosk.config import load_config

    paths = load_config(None, data_dir=data).paths
    assert paths.install_dir == data / "install" and paths.update_dir == data / "update"
    assert paths.release_keys_dir == data / "release-keys"
    assert paths.update_state_dir == data / "update-state"


# ---- kiosk: finding a product ---------------------------------------------------------


def test_product_by_pinyin_english_code_and_trimmed_name_with_unit_aliases(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    base = [a for a in ISSUE if a not in ("--product", "青菜")]
    for product, unit in (("qingcai", "千克"), ("Bok choy", "kg"), ("v001", None),
                          (" 青菜", "公斤")):  # fmt: skip
        argv = [*base, "--product", product, "--json"] + (["--unit", unit] if unit else [])
        code, out, err = kiosk(capsys, data, *argv)
        assert code == 0, err
        number = json.loads(out)["number"]
        code, out, _ = kiosk(capsys, data, "certificates", "show", number, "--json")
        shown = json.loads(out)
        assert shown["product"] == "青菜" and shown["unit"] == "公斤", product


def test_unknown_product_suggests_the_nearest(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    base = [a for a in ISSUE if a not in ("--product", "青菜")]
    code, _, err = kiosk(capsys, data, *base, "--product", "qingca")
    line = one_line(err)
    assert code == 1 and "product" in line and "青菜 (V001)" in line
    code, _, err = kiosk(capsys, data, *base, "--product", "qc")
    line = one_line(err)
    assert code == 1 and "青菜 (V001)" in line and "芹菜 (V004)" in line
    code, _, err = kiosk(capsys, data, "test", "register", "--sample", "S1", "--producer",
                         "张秀英", "--phone", "13812345678", "--product", "bok choy")  # fmt: skip
    assert code == 0, err


# ---- kiosk: the process itself ------------------------------------------------------------


def test_piping_into_head_exits_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path), "test", "methods"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before the first line, as `| head -0` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == boundary.EXIT_BROKEN_PIPE
    assert err == ""


def test_unexpected_error_is_one_line_and_the_traceback_is_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boundary, "JOURNAL_SOCKET", tmp_path / "no-journal")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    def broken() -> int:
        raise KeyError("phone of 张秀英")

    code = boundary.run_cli("kiosk", broken)
    line = one_line(capsys.readouterr().err)
    assert code == 1 and "internal error: KeyError" in line
    log = tmp_path / "state" / "agriqs" / "kiosk-errors.log"
    assert str(log) in line
    assert "Traceback" in log.read_text("utf-8") and "def broken" not in line
    assert log.stat().st_mode & 0o777 == 0o600


def test_unexpected_error_goes_to_the_journal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    path = tmp_path / "journal.socket"
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(path))
    monkeypatch.setattr(boundary, "JOURNAL_SOCKET", path)
    try:
        code = boundary.run_cli("station", lambda: 1 // 0)
        datagram = journal.recv(65536)
    finally:
        journal.close()
    line = one_line(capsys.readouterr().err)
    assert code == 1 and "journalctl -t station" in line
    assert b"SYSLOG_IDENTIFIER=station\n" in datagram and b"ZeroDivisionError" in datagram


# ---- station ----------------------------------------------------------------------------


@pytest.fixture
def county(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "county.pem"
    SigningKey.generate().save(key)
    db = tmp_path / "station.db"
    assert station_cli.main(["devices", "register", "330100/K001", "--township", "示范镇",
                             "--public-key", SigningKey.generate().public_b64,
                             "--db", str(db)]) == 0  # fmt: skip
    return key, db


def test_station_wrong_inputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, county: tuple[Path, Path]
) -> None:
    key, db = county
    capsys.readouterr()
    code, _, err = station(capsys, "cmd", "330100/K001", "bogus", "--key", str(key),
                             "--db", str(db))  # fmt: skip
    assert code == 2 and "bogus" in one_line(err) and "diagnostics" in err
    code, _, err = station(capsys, "cmd", "330100/K001", "diagnostics", "--key",
                           str(tmp_path / "nokey.pem"), "--db", str(db))  # fmt: skip
    assert code == 2 and "nokey.pem" in one_line(err)
    code, _, err = station(capsys, "trust", "show", "--county", "330100", "--key",
                           str(tmp_path / "nokey.pem"), "--db", str(db))  # fmt: skip
    assert code == 2 and "nokey.pem" in one_line(err)
    code, _, err = station(capsys, "devices", "show", "330100/K009", "--db", str(db))
    assert code == 1 and "K009" in one_line(err)
    code, _, err = station(capsys, "config", "push", "--county", "330100", "--key", str(key),
                           "--db", str(db), str(tmp_path / "none.toml"))  # fmt: skip
    assert code == 2 and "none.toml" in one_line(err)


def test_station_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_usage(capsys, station_cli.main, ["frobnicate"])
    assert code == 2 and "frobnicate" in one_line(err)
    code, err = run_usage(capsys, station_cli.main, ["report", "--section", "everything"])
    assert code == 2 and "--section" in one_line(err)


def test_station_report_refuses_a_missing_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    typo = tmp_path / "typo.db"
    code, out, err = station(capsys, "report", "--db", str(typo))
    assert code == 2 and str(typo) in one_line(err) and "--create" in err
    assert not typo.exists() and out == ""
    for argv in (
        ["devices", "list"],
        ["devices", "pending"],
        ["trust", "show", "--county", "330100", "--key", "k.pem"],
        ["holds", "list", "--county", "330100"],
        ["share", "status", "--county", "330100"],
    ):
        code, _, err = station(capsys, *argv, "--db", str(typo))
        assert code == 2 and str(typo) in one_line(err)
    assert not typo.exists()
    code, out, _ = station(capsys, "report", "--db", str(typo), "--create")
    assert code == 0 and "certificates" in out and typo.exists()


def test_station_empty_lists_say_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    code, out, _ = station(capsys, "devices", "list", "--db", str(db), "--create")
    assert code == 0 and "no kiosks registered" in out
    code, out, _ = station(capsys, "devices", "pending", "--db", str(db))
    assert code == 0 and "no enrollment requests" in out


def test_cli_error_output_is_one_line_from_a_real_process(tmp_path: Path) -> None:
    """The installed programs, not only main(): nothing else reaches stderr."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    for argv in (
        [sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path), "certificates",
         "export", "--since", "2026/12/01"],
        [sys.executable, "-m", "station.cli", "report", "--db", str(tmp_path / "typo.db")],
    ):  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2
        one_line(done.stderr)
    config = printer_config(tmp_path, "/dev/full")
    argv = [sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path), "--config", str(config)]
    done = subprocess.run([*argv, *ISSUE], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 3 and "recorded, NOT printed" in done.stdout
    assert done.stderr == ""


# ---- station: what it sends is checked before it is signed, published or counted ---------


def versions(db: Path) -> dict[str, int]:
    from station.db import Database
    from station.devices import current_version

    with Database(str(db)) as store:
        return {kind: current_version(store, "330100", kind) for kind in ("config", "trust")}


def test_config_push_refuses_what_the_kiosk_would_refuse(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, county: tuple[Path, Path]
) -> None:
    key, db = county
    capsys.readouterr()
    push = ["config", "push", "--county", "330100", "--key", str(key), "--db", str(db),
            "--port", "1"]  # fmt: skip
    for text, named in (
        ('[printer]\nprofil = "tspl-60x40"\n', "printer.profil"),
        ('[device]\ndevice_id = "K002"\n', "device"),
        ('[uplink]\ntls_key = "/tmp/k"\n', "uplink.tls_key"),
        ("[certificate]\ncopies_max = 99\n", "certificate.copies_max"),
        ('[ui]\nlanguage = "fr"\n', "ui.language"),
    ):
        settings = tmp_path / "settings.toml"
        settings.write_text(text, "utf-8")
        code, out, err = station(capsys, *push, str(settings))
        assert code == 2 and named in one_line(err), text
        assert "published" not in out
    settings.write_text("[certificate]\ncopies_max = 9\n", "utf-8")
    code, _, err = station(capsys, *push, str(settings))  # a sound bundle, no broker
    assert code == 1 and "station config" in one_line(err)
    assert versions(db)["config"] == 0  # nothing was spent by any of these


def test_settings_schema_is_the_kiosk_schema() -> None:
    from kiosk.config import settings_schema

    shipped = Path(boundary.__file__).parent / "schemas/provisioning/kiosk.settings.json"
    assert json.loads(shipped.read_text("utf-8")) == settings_schema(), (
        "kiosk/config.py changed: regenerate with `python -m kiosk.config`"
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["lift_hold"], "hold_id"),
        (["lift_hold", "hold_id=x"], "hold_id"),
        (["logs", "lines=many"], "lines"),
        (["restart", "what=all"], "what"),
        (["diagnostics", "colour=1"], "colour"),
        (["roster", "version=3"], "producers"),
        (["diagnostics", "hardware"], "key=value"),
    ],
)
def test_station_cmd_checks_arguments_before_signing(
    capsys: pytest.CaptureFixture[str], county: tuple[Path, Path], args: list[str], named: str
) -> None:
    key, db = county
    capsys.readouterr()
    code, _, err = station(capsys, "cmd", "330100/K001", *args, "--key", str(key),
                           "--db", str(db), "--port", "1")  # fmt: skip
    assert code == 2 and named in one_line(err)


def test_station_cmd_waits_for_the_kiosks_own_deadline() -> None:
    from provisioning.hardware import RELAY_TIMEOUT_S
    from wire.provisioning import reply_deadline_s

    for name in ("test_print", "reader_selftest", "reader_calibrate", "diagnostics"):
        assert reply_deadline_s(name) >= RELAY_TIMEOUT_S + 5
    assert reply_deadline_s("logs") >= 5


def test_trust_show_spends_nothing(
    capsys: pytest.CaptureFixture[str], county: tuple[Path, Path]
) -> None:
    key, db = county
    capsys.readouterr()
    shown = []
    for _ in range(2):
        code, out, err = station(capsys, "trust", "show", "--county", "330100", "--key",
                                 str(key), "--db", str(db))  # fmt: skip
        assert code == 0, err
        shown.append(json.loads(json.loads(out)["body"])["version"])
    assert shown == [0, 0] and versions(db)["trust"] == 0
    code, _, err = station(capsys, "trust", "publish", "--county", "330100", "--key", str(key),
                           "--db", str(db), "--port", "1")  # fmt: skip
    assert code == 1 and versions(db)["trust"] == 0  # no broker: no version spent either


# ---- one agent per data directory ---------------------------------------------------------


def test_a_second_agent_on_the_same_data_directory_says_who_holds_it(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    import time

    first = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data), "agent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = data / "agent.lock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if lock.exists() and lock.read_text().strip() == str(first.pid):
                break
            time.sleep(0.1)
        assert lock.read_text().strip() == str(first.pid)
        code, _, err = kiosk(capsys, data, "agent")
        line = one_line(err)
        assert code == 1 and f"pid {first.pid}" in line and "already running" in line
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert first.returncode in (0, -15)


def test_county_and_device_codes_are_checked_where_they_are_typed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, county: tuple[Path, Path]
) -> None:
    key, db = county
    capsys.readouterr()
    for argv, named in (
        (["devices", "enroll-code", "--county", "33010", "--township", "示范镇"], "33010"),
        (["devices", "enroll-code", "--county", "330100", "--township", "示范镇",
          "--device", "k17"], "k17"),
        (["trust", "show", "--county", "3301OO", "--key", str(key)], "3301OO"),
    ):  # fmt: skip
        code, err = run_usage(capsys, station_cli.main, [*argv, "--db", str(db)])
        assert code == 2 and named in one_line(err)
    code, _, err = station(capsys, "devices", "show", "33010/K001", "--db", str(db))
    assert code == 2 and "33010" in one_line(err)
    public = SigningKey.generate().public_b64
    code, _, err = station(capsys, "devices", "register", "330100/k1", "--township", "镇",
                           "--public-key", public, "--db", str(db))  # fmt: skip
    assert code == 2 and "k1" in one_line(err)


def test_collect_names_its_tls_key_like_the_other_commands() -> None:
    parser = station_cli.build_parser()
    args = parser.parse_args(["collect", "--key-file", "client.key"])
    assert str(args.key) == "client.key"
    assert str(parser.parse_args(["collect", "--key", "old.key"]).key) == "old.key"


# ---- collectors in one group write to one store -------------------------------------------


def test_collectors_of_one_group_writing_to_different_stores_are_refused(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    broker_factory,  # noqa: F811
) -> None:
    import time

    from support.uplink import collector_settings

    from station.collector import Collector

    broker = broker_factory()

    def settle(*collectors: Collector) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(c.stats().connected for c in collectors):
            time.sleep(0.05)
        time.sleep(0.5)  # retained claims arrive right after the subscription

    first = Collector(collector_settings(broker.port, client_id="sqlite-1"), tmp_path / "a.db")
    same = Collector(collector_settings(broker.port, client_id="sqlite-2"), tmp_path / "a.db")
    with first, same:
        settle(first, same)
        assert first.conflict is None and same.conflict is None  # two writers, one store
        other = Collector(collector_settings(broker.port, client_id="pg-1"), tmp_path / "b.db")
        with other:
            settle(other)
            assert other.conflict and "sqlite-" in other.conflict and "split" in other.conflict
            assert first.conflict and "pg-1" in first.conflict  # the first one logs it too
        elsewhere = Collector(
            collector_settings(broker.port, client_id="pg-2", group="province"), tmp_path / "b.db"
        )
        with elsewhere:
            settle(elsewhere)
            assert elsewhere.conflict is None  # another group: its own stream
        code, _, err = station(capsys, "collect", "--host", "127.0.0.1", "--port",
                               str(broker.port), "--db", str(tmp_path / "c.db"),
                               "--client-id", "sqlite-3")  # fmt: skip
        assert code == 2 and "--group" in one_line(err) and "split" in err


def test_simulated_reader_keeps_its_calibration_between_commands(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    code, out, err = kiosk(capsys, data, "reader", "info", "--json")
    assert code == 0, err
    assert json.loads(out)["reference_calibrated"] is False
    code, _, err = kiosk(capsys, data, "reader", "calibrate", "--kind", "both")
    assert code == 0, err
    code, out, err = kiosk(capsys, data, "reader", "info", "--json")
    assert code == 0 and json.loads(out)["reference_calibrated"] is True, out


# ---- the README's command tables name real commands -----------------------------------------


def readme_commands() -> list[list[str]]:
    """Every command path in the README's tables: `kiosk certificates show`, each
    alternative of `kiosk reader info\\|selftest\\|…`, and the siblings a row lists after
    a comma (`kiosk holds [list]`, `kiosk holds lift …`)."""
    import re

    readme = (Path(boundary.__file__).parents[1] / "README.md").read_text("utf-8")
    paths: list[list[str]] = []
    for line in readme.splitlines():
        if not line.startswith("| `kiosk ") and not line.startswith("| `station "):
            continue
        cell = line.split("|")[1] if "\\|" not in line.split(" | ")[0] else line.split(" | ")[0]
        for code in re.findall(r"`([^`]+)`", cell.replace("\\|", "¦")):
            words = code.split()
            if words and words[0] in ("kiosk", "station"):
                program, rest = words[0], words[1:]
            elif paths:  # `pending`, `set-pin NAME`: a sibling of the row's first command
                program, rest = paths[-1][0], [*paths[-1][1:2], *words]
            else:
                continue
            path = [program]
            plain = r"[a-z][a-z0-9-]*"
            for n, word in enumerate(rest):
                if not re.fullmatch(rf"{plain}(¦{plain})*", word):
                    # `now [--no-usb]¦list¦verify FILE¦restore FILE`: after an option or
                    # a placeholder, the words behind ¦ are the action's siblings.
                    for token in rest[n:]:
                        first, *others = token.split("¦")
                        if others and not re.fullmatch(plain, first) and len(path) > 2:
                            paths.extend([*path[:-1], o] for o in others if re.fullmatch(plain, o))
                    break
                path.append(word)
            for i, word in enumerate(path):
                if "¦" in word:
                    paths.extend([*path[:i], alt] for alt in word.split("¦"))
                    break
            else:
                paths.append(path)
    return paths


def test_every_command_in_the_readme_exists(capsys: pytest.CaptureFixture[str]) -> None:
    paths = readme_commands()
    assert len(paths) > 60, paths  # the tables were found
    assert ["kiosk", "certificates", "export"] in paths
    assert ["station", "trust", "show"] in paths
    for path in paths:
        main = kiosk_cli.main if path[0] == "kiosk" else station_cli.main
        code, err = run_usage(capsys, main, [*path[1:], "--help"])
        assert code == 0, f"README documents `{' '.join(path)}`: {err}"


def test_every_option_in_the_readme_tables_exists(capsys: pytest.CaptureFixture[str]) -> None:
    """A row's options (`--since`, `--create`, `--key-file`) are in its command's --help."""
    import re

    readme = (Path(boundary.__file__).parents[1] / "README.md").read_text("utf-8")
    checked = 0
    for line in readme.splitlines():
        first = re.match(r"\| `((?:kiosk|station) [^`]+)`", line)
        if first is None:
            continue
        code = first.group(1)
        words = code.replace("\\|", " ").split()
        path = []
        for word in words[1:3]:
            word = word.lstrip("[")  # `kiosk certificates [list [--status S] …]`
            if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                break
            path.append(word)
        main = kiosk_cli.main if words[0] == "kiosk" else station_cli.main
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])  # type: ignore[operator]
        assert done.value.code == 0
        text = capsys.readouterr().out
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", code):
            assert option in text, f"README: `{' '.join([words[0], *path])}` has no {option}"
            checked += 1
    assert checked > 40, checked
