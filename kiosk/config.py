"""Kiosk configuration: TOML files checked against one schema.

An unknown or ill-typed key is refused with its dotted path, so a typo in a
technician's file never silently falls back to a default.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from wire.topics import PREFIX

#: pydantic looks for plugins through every installed distribution's entry points when
#: it builds the first model (~0.05 s of the kiosk's cold start); the kiosk uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

DEFAULT_CONFIG = Path(__file__).with_name("data") / "simulation.toml"
#: Files below ``paths.keys_dir`` and ``paths.data_dir``.
SIGNING_KEY_FILE = "certificate-signing.pem"


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the offending key."""


#: Paper sizes in dots (203 dpi): width, and height for die-cut labels (None: a roll).
#: The label layouts (kiosk/services/labels.py) and the profile check share this table.
PAPER_SIZES: dict[str, tuple[int, int | None]] = {
    "label-60x40": (480, 320),
    "roll-80": (576, None),
    "roll-58": (384, None),
}
#: The verify URL of the documentation: a kiosk outside simulation must name its county's.
PLACEHOLDER_VERIFY_HOSTS = ("EXAMPLE.GOV.CN", "EXAMPLE.COM", "EXAMPLE.ORG", "EXAMPLE")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Section):
    #: Administrative division code of the county (6 digits, GB/T 2260).
    county: Annotated[str, Field(pattern=r"^[0-9]{6}$")] = "330100"
    #: Kiosk id unique within the county; part of every certificate number.
    device_id: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,7}$")] = "K001"
    township: str = "示范镇"
    service_point: str = "示范镇农产品质量安全服务点"
    #: A demonstration kiosk: simulated devices are allowed and demo PINs are set.
    #: Only the embedded simulation config sets it; a real kiosk's config never does.
    simulation: bool = False


class PathsConfig(_Section):
    #: Everything the kiosk writes lives below this directory.
    data_dir: Path = Path("sim")
    #: Below this much free disk the kiosk refuses to issue and says why.
    min_free_mb: Annotated[int, Field(ge=1)] = 64

    #: Where the software's versions live (kiosk/infra/update.py); relative paths are
    #: taken below data_dir (the simulation keeps everything there).
    install_root: Path = Path("/opt/agriqs")
    #: County release public keys (``*.pub``) that may sign software bundles.
    release_keys: Path = Path("/etc/agriqs/release-keys")
    #: The update units' own state (root's, 0700): pending.json, last-result.json.
    update_state: Path = Path("/var/lib/agriqs-update")

    @property
    def database(self) -> Path:
        return self.data_dir / "kiosk.db"

    @property
    def install_dir(self) -> Path:
        return self.data_dir / self.install_root  # an absolute install_root wins

    @property
    def release_keys_dir(self) -> Path:
        return self.data_dir / self.release_keys

    @property
    def update_dir(self) -> Path:
        """The service user's side of updates: incoming/, health.json (docs/deploy.md)."""
        return self.data_dir / "update"

    @property
    def update_state_dir(self) -> Path:
        return self.data_dir / self.update_state

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


class CertificateConfig(_Section):
    #: Template family; "2025" follows the 2025 Order, "2020" the earlier trial template.
    template_edition: Literal["2025", "2020"] = "2025"
    #: The county's verify page; the QR is this URL followed by the signed payload.
    verify_url: Annotated[str, Field(pattern=r"^HTTPS?://[A-Z0-9.\-:/]+/$")] = (
        "HTTPS://QS.EXAMPLE.GOV.CN/V/"
    )
    copies_default: Annotated[int, Field(ge=1, le=10)] = 1
    #: How long after sampling a 自行检测合格 certificate may rest on the sample's batch:
    #: 0 = the same (China) calendar day, else 1 to 24 hours (docs/certificates.md §3).
    evidence_window_h: Annotated[int, Field(ge=0, le=24)] = 0
    copies_max: Annotated[int, Field(ge=1, le=50)] = 20
    #: How long a certificate stands (the Order's 7 days by default, as the county's
    #: ``verify.valid_days``): an older one is refused as a 样式二 source and by
    #: ``kiosk verify`` (docs/certificates.md §4).
    valid_days: Annotated[int, Field(ge=1, le=365)] = 7
    #: Path to a trust list file; without one the kiosk trusts only its own key.
    trust_list: Path | None = None
    #: County public keys (base64 Ed25519) that may sign trust lists.
    trust_anchors: list[str] = []


class PrinterTransport(_Section):
    """Maps 1:1 onto drivers.printer.TransportSettings."""

    #: "none" (the default, a section left out): no printer; the kiosk stays out of
    #: service. "simulated" only under ``[device] simulation = true``.
    kind: Literal["none", "simulated", "usb", "serial", "network", "file"] = "none"
    #: USB vendor and product id (hex strings such as "0x0416").
    usb_vendor: str | None = None
    usb_product: str | None = None
    usb_interface: int = 0
    #: Many cheap printers use 0x81 in and 0x02 or 0x03 out.
    usb_in_endpoint: int = 0x81
    usb_out_endpoint: int = 0x03
    serial_port: str | None = None
    baudrate: int = 9600
    flow_control: Literal["none", "rtscts", "xonxoff", "dsrdtr"] = "none"
    host: str | None = None
    port: int = 9100
    device_file: str = "/dev/usb/lp0"
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0


class PrinterConfig(_Section):
    #: A profile name from drivers/printer/profiles.py: which commands the model speaks.
    profile: str = "tspl-60x40"
    paper: Literal["label-60x40", "roll-80", "roll-58"] = "label-60x40"
    transport: PrinterTransport = PrinterTransport()


class ScannerConfig(_Section):
    kind: Literal["none", "simulated", "evdev", "serial"] = "none"
    #: evdev: a /dev/input/by-id/...-event-kbd path or the device name; serial: the port.
    device: str | None = None
    baudrate: int = 9600


class IndicatorsConfig(_Section):
    """GPIO parts of the cabinet; BCM pin numbers (drivers/indicators/pins.py)."""

    kind: Literal["none", "simulated", "gpio"] = "none"
    light_kind: Literal["rgb", "tower"] = "rgb"
    light_red: int = 17
    light_green: int = 27
    light_blue: int = 22
    light_amber: int = 22
    light_active_high: bool = True
    buzzer: int = 18
    buzzer_active_high: bool = True
    help_button: int = 23
    door_switch: int = 24
    paper_low: int = 25


class ScaleConfig(_Section):
    kind: Literal["none", "simulated", "serial"] = "none"
    port: str | None = None
    baudrate: int = 9600


class ReaderConfig(_Section):
    """The rapid-test reader (drivers.reader.open_test_reader)."""

    kind: Literal["none", "simulated", "serial"] = "none"
    #: Prefer the stable /dev/agriqs-reader or /dev/serial/by-id/... link.
    port: str | None = None
    baudrate: Annotated[int, Field(gt=0)] = 115200
    #: Simulation only: how much faster than real time the simulated chemistry runs.
    time_scale: Annotated[float, Field(ge=1, le=1000)] = 1.0


class UplinkConfig(_Section):
    """The county broker (maps onto kiosk.infra.uplink.UplinkSettings)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    #: CA of the county broker; without one the link is plain TCP (lab use only).
    tls_ca: Path | None = None
    #: Client certificate identity (CN = "{county}/{device}"), else username/password.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    username: str | None = None
    #: A file holding the MQTT password (mode 0600), never the password itself.
    password_file: Path | None = None
    topic_prefix: Annotated[str, Field(pattern=r"^[a-z0-9]+(/[a-z0-9]+)*$")] = PREFIX
    keepalive_s: Annotated[int, Field(ge=10, le=3600)] = 60
    session_expiry_s: Annotated[int, Field(ge=0)] = 7 * 24 * 3600
    inflight_window: Annotated[int, Field(ge=1, le=1000)] = 100
    backlog_alarm_threshold: Annotated[int, Field(ge=1)] = 5000
    retention_days: Annotated[int, Field(ge=1)] = 30
    #: How often the agent looks for events written by the UI process.
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0


class UiConfig(_Section):
    language: Literal["zh-CN", "en"] = "zh-CN"
    width: int = 1024
    height: int = 600
    screen_dpi: Annotated[float, Field(gt=50, le=400)] = 160.0
    fullscreen: bool = False
    idle_timeout_s: Annotated[int, Field(ge=15, le=3600)] = 90
    audio: bool = True


class BackupConfig(_Section):
    #: The county's recovery public key (base64, 32 raw X25519 bytes, made with
    #: ``kiosk backup recovery-key``): PIN hashes in USB copies are sealed to it. Without
    #: one, USB copies carry no PIN hashes at all.
    recovery_key: str | None = None

    @field_validator("recovery_key")
    @classmethod
    def _recovery_key(cls, value: str | None) -> str | None:
        if value is not None:
            from wire.sealed import decode_recovery_key  # cryptography: only when one is set

            decode_recovery_key(value)
        return value


class CatalogueProduct(_Section):
    """A product the county adds (or corrects, by code): the fields of products.toml."""

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,7}$")]
    name: Annotated[str, Field(min_length=1, max_length=20)]
    name_en: Annotated[str, Field(min_length=1, max_length=60)]
    pinyin: Annotated[str, Field(pattern=r"^[a-z]+( [a-z]+)*$")]
    initials: Annotated[str, Field(pattern=r"^[A-Z]{1,12}$")]
    category: str
    default_unit: str
    units: Annotated[list[str], Field(min_length=1)]
    in_scope: bool = True
    refusal: str = ""
    enzyme_interference: bool = False


class CatalogueInput(_Section):
    """An input class the county adds or corrects (a newly banned substance, say)."""

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    kind: Literal["pesticide", "vet_drug"]
    name: Annotated[str, Field(min_length=1, max_length=30)]
    name_en: Annotated[str, Field(min_length=1, max_length=80)]
    status: Literal["allowed", "restricted", "banned"] = "allowed"
    source: str = ""


class CatalogueConfig(_Section):
    """The county's additions to the embedded catalogue (kiosk/data/*.toml), pushed in
    a signed config bundle; an entry with an existing code replaces it."""

    products: list[CatalogueProduct] = []
    inputs: list[CatalogueInput] = []


class TimeConfig(_Section):
    """Whether the clock may date a certificate (kiosk/infra/timetrust.py, docs/fleet.md)."""

    #: Where the synchronisation state comes from: systemd-timesyncd (``timedatectl
    #: show``), chrony (``chronyc tracking``), or the simulation's file (simulation only).
    sync: Literal["timesyncd", "chrony", "simulated"] = "timesyncd"
    #: A battery-backed real-time clock is fitted (DS3231 on I2C, docs/deploy.md); the
    #: kiosk checks /sys/class/rtc/rtc0 exists before it counts on it.
    rtc: bool = False
    #: The RTC's sysfs directory (a Pi 5 with its own clock and a DS3231 has two).
    rtc_device: Path = Path("/sys/class/rtc/rtc0")
    #: How far the clock may differ from the county's time beacon.
    beacon_tolerance_s: Annotated[int, Field(ge=5, le=3600)] = 120
    #: Unsynchronised, with no RTC and no agreeing beacon since boot, longer than this:
    #: the kiosk stops issuing.
    max_unsynced_min: Annotated[int, Field(ge=1, le=10080)] = 30


class FontConfig(_Section):
    #: A CJK font file; empty means search the usual system locations.
    cjk: Path | None = None


class KioskConfig(_Section):
    """A section left out means no such device (``kind = "none"``), never a simulated one."""

    device: DeviceConfig = DeviceConfig()
    paths: PathsConfig = PathsConfig()
    certificate: CertificateConfig = CertificateConfig()
    printer: PrinterConfig = PrinterConfig()
    reader: ReaderConfig = ReaderConfig()
    scanner: ScannerConfig = ScannerConfig()
    indicators: IndicatorsConfig = IndicatorsConfig()
    scale: ScaleConfig = ScaleConfig()
    uplink: UplinkConfig = UplinkConfig()
    ui: UiConfig = UiConfig()
    fonts: FontConfig = FontConfig()
    backup: BackupConfig = BackupConfig()
    catalogue: CatalogueConfig = CatalogueConfig()
    time: TimeConfig = TimeConfig()

    @model_validator(mode="after")
    def _parts_fit(self) -> KioskConfig:
        problem = parts_problem(self)
        if problem:
            raise ValueError(problem)
        return self


def simulated_parts(config: KioskConfig) -> list[str]:
    """The dotted keys of every simulated device (the UI, ``config show``, diagnostics)."""
    kinds = {
        "printer.transport.kind": config.printer.transport.kind,
        "reader.kind": config.reader.kind,
        "scanner.kind": config.scanner.kind,
        "indicators.kind": config.indicators.kind,
        "scale.kind": config.scale.kind,
        "time.sync": config.time.sync,
    }
    return [key for key, kind in kinds.items() if kind == "simulated"]


def parts_problem(config: KioskConfig) -> str | None:
    """What cannot work in the device sections, naming the key; None when all fits.

    Checked when the file is read, so a kiosk refuses to start rather than find out
    after a farmer's number was spent (a profile that does not fit its paper used to
    raise at the first print)."""
    from drivers.printer.profiles import UnknownProfileError, get_profile

    simulated = simulated_parts(config)
    if simulated and not config.device.simulation:
        return (
            f"{simulated[0]}: simulated devices exist only in a simulation "
            "([device] simulation = true); name the real device or leave the section out"
        )
    t = config.printer.transport
    needed: dict[str, list[tuple[str, str | None]]] = {
        "usb": [("usb_vendor", t.usb_vendor), ("usb_product", t.usb_product)],
        "serial": [("serial_port", t.serial_port)],
        "network": [("host", t.host)],
        "file": [("device_file", t.device_file)],
    }
    for key, value in needed.get(t.kind, []):
        if not value:
            return f"printer.transport.{key}: required for a {t.kind} printer"
    for key, value in (("usb_vendor", t.usb_vendor), ("usb_product", t.usb_product)):
        if t.kind == "usb" and value is not None:
            try:
                int(value, 16)
            except ValueError:
                return f"printer.transport.{key}: {value!r} is not a hex USB id (e.g. 0x0483)"
    if config.reader.kind == "serial" and not config.reader.port:
        return "reader.port: required for a serial reader"
    if config.scanner.kind in ("evdev", "serial") and not config.scanner.device:
        return f"scanner.device: required for a {config.scanner.kind} scanner"
    if config.scale.kind == "serial" and not config.scale.port:
        return "scale.port: required for a serial scale"
    try:
        profile = get_profile(config.printer.profile)
    except UnknownProfileError as error:
        return f"printer.profile: {error}"
    width, height = PAPER_SIZES[config.printer.paper]
    if profile.width != width or (profile.height is None) != (height is None):
        kind = "roll" if height is None else "label"
        return (
            f"printer.profile: {profile.name} prints {profile.width} dots "
            f"{'on rolls' if profile.height is None else 'on labels'}, but printer.paper "
            f"{config.printer.paper} is a {width}-dot {kind}: choose a matching profile or paper"
        )
    if height is not None and profile.height is not None and profile.height < height:
        return f"printer.profile: {profile.name} labels are shorter than {config.printer.paper}"
    if config.fonts.cjk is not None and not config.fonts.cjk.is_file():
        return f"fonts.cjk: file not found: {config.fonts.cjk}"
    if config.catalogue.products or config.catalogue.inputs:  # the embedded one is tested
        from kiosk.domain.catalogue import Catalogue

        try:
            Catalogue.load(extra=config.catalogue.model_dump())
        except ValueError as error:
            return f"catalogue: {error}"
    return None


def startup_problem(config: KioskConfig) -> str | None:
    """What stops this configuration from issuing certificates (the composition root
    asks before opening anything); None when it may. Enrollment does not ask: a kiosk
    image is enrolled before its county's settings are in."""
    problem = parts_problem(config)
    if problem:
        return problem
    if config.device.simulation:
        if config.device.county.endswith("00"):
            return None
        return (
            "device.county: a simulation uses a prefecture-level code ending in 00 (no "
            "county has one), so its certificate numbers can never be a real county's"
        )
    url = config.certificate.verify_url.upper()
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    if any(host == p or host.endswith("." + p) for p in PLACEHOLDER_VERIFY_HOSTS):
        return (
            f"certificate.verify_url: {config.certificate.verify_url} is the documentation's "
            "placeholder; set the county's verify page (it is printed in every QR code)"
        )
    trust = config.certificate.trust_list
    if trust is not None and not trust.is_file():
        return f"certificate.trust_list: file not found: {trust}"
    return None


def check_startable(config: KioskConfig) -> None:
    """ConfigError naming the key when ``startup_problem`` finds one."""
    problem = startup_problem(config)
    if problem:
        raise ConfigError(problem)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        elif not item["loc"] and item["type"] == "value_error":
            lines.append(str(item["msg"]).removeprefix("Value error, "))  # names its key
        else:
            lines.append(f"{key}: {item['msg']}")
    return "; ".join(lines)


def parse_config(data: dict, *, base_dir: Path | None = None) -> KioskConfig:
    """Validate a decoded TOML document; relative paths are taken from ``base_dir``."""
    try:
        config = KioskConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    if base_dir is not None and not config.paths.data_dir.is_absolute():
        paths = config.paths.model_copy(update={"data_dir": base_dir / config.paths.data_dir})
        config = config.model_copy(update={"paths": paths})
    return config


def default_data_home() -> Path:
    """Where the embedded simulation config keeps its data: the user's data directory."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share") / "agriqs-kiosk"


def load_config(path: Path | None = None, *, data_dir: Path | None = None) -> KioskConfig:
    """Read the configuration file (the embedded simulation config when ``path`` is None).

    ``data_dir`` overrides ``paths.data_dir``; tests and the demo use it.
    """
    source = path or DEFAULT_CONFIG
    try:
        with open(source, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {source}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    base = default_data_home() if path is None else source.parent
    config = parse_config(data, base_dir=base)
    if data_dir is not None:
        config = config.model_copy(
            update={"paths": config.paths.model_copy(update={"data_dir": data_dir})}
        )
    return config


# ---- configuration layers ------------------------------------------------------------
#
# The configuration a kiosk runs with is three layers, later ones winning:
#
# 1. the installed file (``/etc/agriqs/kiosk.toml``: read-only to the kiosk user);
# 2. ``{data_dir}/config/managed.json``: the last signed county bundle that passed its
#    health check (``{"version": N, "settings": {...}}``, one file so that version and
#    content can never disagree);
# 3. ``{data_dir}/config/identity.json``: what enrollment gave this kiosk (device id,
#    county, township, MQTT account, county trust anchors). Bundles may not touch it.
#
# Writing the layers is provisioning's job (provisioning/configs.py, enroll.py).

MANAGED_FILE = "managed.json"
IDENTITY_FILE = "identity.json"
CONFIG_DIR = "config"
#: Keys that belong to the kiosk's identity and trust, set by enrollment only: a county
#: bundle that could rename the device or swap its anchors could hijack the kiosk.
PROTECTED_KEYS = (
    "device",
    "paths",
    "uplink.username",
    "uplink.password_file",
    "uplink.tls_cert",
    "uplink.tls_key",
    "certificate.trust_anchors",
    "certificate.trust_list",
)


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of what a county bundle may set: this schema without the
    protected keys. Shipped as ``wire/schemas/provisioning/kiosk.settings.json`` so the
    station (which imports only wire) refuses a misspelt or protected key before it
    signs, publishes or spends a version; tests/test_newcomer.py keeps the file equal
    to this function's output (regenerate: ``python -m kiosk.config``)."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: clean(v)
                for k, v in node.items()
                if k not in ("title", "default", "description")
                and not (k == "format" and v == "path")
            }
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    schema = clean(KioskConfig.model_json_schema())
    defs = schema["$defs"]
    for key in PROTECTED_KEYS:
        section, _, leaf = key.partition(".")
        if not leaf:
            del schema["properties"][section]
            continue
        ref = schema["properties"][section]["$ref"].rsplit("/", 1)[-1]
        del defs[ref]["properties"][leaf]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "agriqs.kiosk.settings",
        "description": "Settings a signed county config bundle may carry (generated from "
        "kiosk/config.py by python -m kiosk.config; do not edit).",
        "x-protected": list(PROTECTED_KEYS),
        **schema,
    }


def config_dir(data_dir: Path) -> Path:
    return data_dir / CONFIG_DIR


def read_layer(path: Path) -> dict[str, Any] | None:
    """A JSON layer file, or None when absent; ConfigError when unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return data


def managed_version(data_dir: Path) -> int:
    """Version of the applied county bundle; 0 when none was ever applied."""
    layer = read_layer(config_dir(data_dir) / MANAGED_FILE)
    return int(layer.get("version", 0)) if layer else 0


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of config dicts: tables merge, values replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def protected_keys_in(settings: dict[str, Any]) -> list[str]:
    """The protected dotted keys a bundle's settings try to set."""
    found = []
    for key in PROTECTED_KEYS:
        node: Any = settings
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            found.append(key)
    return found


def compose(
    config: KioskConfig, settings: dict[str, Any] | None, identity: dict[str, Any] | None
) -> KioskConfig:
    """Installed config + bundle settings + identity, checked against the schema."""
    data = config.model_dump(mode="json", exclude_none=True)
    if settings:
        data = merge(data, settings)
    if identity:
        data = merge(data, identity)
    return parse_config(data)


def effective_config(config: KioskConfig) -> KioskConfig:
    """What the kiosk runs with: ``config`` plus the managed and identity layers."""
    folder = config_dir(config.paths.data_dir)
    managed = read_layer(folder / MANAGED_FILE)
    identity = read_layer(folder / IDENTITY_FILE)
    if managed is None and identity is None:
        return config
    return compose(config, (managed or {}).get("settings"), identity)


if __name__ == "__main__":  # regenerate the bundle settings schema the station checks
    _target = Path(__file__).parents[1] / "wire/schemas/provisioning/kiosk.settings.json"
    _target.write_text(
        json.dumps(settings_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {_target}")
