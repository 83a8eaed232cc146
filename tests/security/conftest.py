"""Fixtures every attack may use: a real broker, a store per dialect, a raw publisher."""

from support.mqtt_broker import broker_factory  # noqa: F401  (fixture)

from .intake_rig import publisher, store_url  # noqa: F401  (fixtures)
