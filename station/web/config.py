"""The web service's configuration: one TOML file, checked against this schema.

An unknown or ill-typed key stops ``station serve`` with the key's name, as the
kiosk's config does. ``station/web/data/simulation.toml`` is the embedded default
for the simulation; a county's file is modelled on ``docs/deploy/station.example.toml``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SIMULATION_CONFIG = Path(__file__).with_name("data") / "simulation.toml"


class WebConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    #: Peers whose X-Forwarded-For / -Proto are believed (the reverse proxy), else none.
    trusted_proxies: list[str] = []
    #: Mount point behind a proxy that serves the app under a prefix.
    root_path: str = ""


class DatabaseConfig(_Section):
    #: SQLite path (development) or postgresql:// URL (deployment).
    url: str = "station.db"
    #: Connections kept for request handlers (each request borrows one).
    pool_size: Annotated[int, Field(ge=1, le=64)] = 8


class SecurityConfig(_Section):
    #: Key that signs session cookies (32 random bytes, mode 0600); made on first start.
    secret_key_file: Path = Path("station-web.key")
    #: Cookies only over HTTPS; false only for the loopback simulation.
    cookie_secure: bool = True
    session_max_age_s: Annotated[int, Field(ge=300, le=7 * 24 * 3600)] = 12 * 3600
    #: Failed logins per account name and per client address, per 15 minutes.
    login_failures_per_15min: Annotated[int, Field(ge=1, le=100)] = 5
    #: Scan page requests per client address per minute (a market gate's desk scanner
    #: does far fewer; a scraper walking numbers is stopped).
    public_requests_per_minute: Annotated[int, Field(ge=10, le=100_000)] = 120
    #: argon2id cost: memory in KiB (64 MiB by default), iterations, lanes.
    argon2_memory_kib: Annotated[int, Field(ge=8 * 1024)] = 64 * 1024
    argon2_time_cost: Annotated[int, Field(ge=1, le=10)] = 3
    argon2_parallelism: Annotated[int, Field(ge=1, le=8)] = 1


class VerifyConfig(_Section):
    #: The county whose trust list this page checks certificates against.
    county: Annotated[str, Field(min_length=1)]
    #: The verify URLs the county's kiosks print (``certificate.verify_url``), upper case.
    #: The signature covers the URL, so the page must know which one was printed.
    verify_urls: Annotated[list[Annotated[str, Field(pattern=r"^HTTPS?://[A-Z0-9.\-:/]+/$")]],
                           Field(min_length=1)]  # fmt: skip
    #: Days a certificate stays 有效 after issue; older ones show 已过期.
    valid_days: Annotated[int, Field(ge=1, le=365)] = 7
    #: How often the kiosk keys are re-read from the registry (new or revoked kiosks).
    trust_refresh_s: Annotated[float, Field(gt=0, le=3600)] = 5.0


class MapPoint(_Section):
    device: str
    lon: Annotated[float, Field(ge=-180, le=180)]
    lat: Annotated[float, Field(ge=-90, le=90)]


class MapConfig(_Section):
    #: Kiosk coordinates for the fleet map; without any, the fleet is a list only.
    kiosks: list[MapPoint] = []


class StatisticsConfig(_Section):
    #: Township -> population, for the rapid-test target of 2 batches per 1,000 people.
    population: dict[str, Annotated[int, Field(ge=1)]] = {}


class WebConfig(_Section):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    security: SecurityConfig = SecurityConfig()
    verify: VerifyConfig
    map: MapConfig = MapConfig()
    statistics: StatisticsConfig = StatisticsConfig()
    #: Only the embedded simulation config sets it: demo accounts, plain-HTTP cookies.
    simulation: bool = False

    @model_validator(mode="after")
    def _secure_outside_simulation(self) -> WebConfig:
        if not self.simulation and not self.security.cookie_secure:
            raise ValueError("security.cookie_secure = false is allowed only in simulation")
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{key}: unknown key" if item["type"] == "extra_forbidden" else
                     f"{key}: {item['msg']}")  # fmt: skip
    return "; ".join(lines)


def simulation_data_dir() -> Path:
    """The simulation's county data, beside the simulated kiosk's (scripts/county-sim)."""
    home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(home) / "agriqs-kiosk" / "sim" / "county"


def parse_web_config(data: dict, *, base_dir: Path | None = None) -> WebConfig:
    """Validate a decoded TOML document; relative paths are taken from ``base_dir``."""
    try:
        config = WebConfig.model_validate(data)
    except ValidationError as error:
        raise WebConfigError(_describe(error)) from None
    if base_dir is None:
        return config
    updates: dict = {}
    key = config.security.secret_key_file
    if not key.is_absolute():
        updates["security"] = config.security.model_copy(update={"secret_key_file": base_dir / key})
    url = config.database.url
    if "://" not in url and not Path(url).is_absolute():
        updates["database"] = config.database.model_copy(update={"url": str(base_dir / url)})
    return config.model_copy(update=updates)


def load_web_config(path: Path | None = None, *, database: str | None = None) -> WebConfig:
    """Read the file (the embedded simulation config when None); ``database`` overrides."""
    source = path or SIMULATION_CONFIG
    try:
        with open(source, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise WebConfigError(f"configuration file not found: {source}") from None
    except tomllib.TOMLDecodeError as error:
        raise WebConfigError(f"{source}: not valid TOML: {error}") from None
    base = simulation_data_dir() if path is None else source.parent
    config = parse_web_config(data, base_dir=base)
    if database:
        config = config.model_copy(
            update={"database": config.database.model_copy(update={"url": database})}
        )
    return config
