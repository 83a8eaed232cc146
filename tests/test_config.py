from pathlib import Path

import pytest

from kiosk.config import ConfigError, load_config, parse_config


def test_embedded_simulation_config_loads(tmp_path: Path) -> None:
    config = load_config(None, data_dir=tmp_path)
    assert config.printer.transport.kind == "simulated"
    assert config.ui.language == "zh-CN"
    assert config.paths.database == tmp_path / "kiosk.db"


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"printer": {"profil": "x"}}, "printer.profil: unknown key"),
        ({"devcie": {}}, "devcie: unknown key"),
        ({"device": {"county": "33"}}, "device.county"),
        ({"printer": {"transport": {"kind": "bluetooth"}}}, "printer.transport.kind"),
        ({"ui": {"width": "wide"}}, "ui.width"),
        ({"certificate": {"copies_max": 0}}, "certificate.copies_max"),
    ],
)
def test_bad_keys_are_named(document: dict, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document)
    assert named in str(error.value)


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[device\ncounty = 1", "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_relative_data_dir_is_taken_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[paths]\ndata_dir = "state"\n', "utf-8")
    assert load_config(path).paths.data_dir == tmp_path / "state"


def test_the_deployment_example_is_a_valid_real_hardware_config() -> None:
    example = Path(__file__).parent.parent / "docs" / "deploy" / "kiosk.example.toml"
    config = load_config(example)
    assert config.printer.transport.kind == "usb"
    assert config.paths.data_dir == Path("/var/lib/agriqs")
    assert config.uplink.tls_ca is not None
