"""The agent process (``kiosk agent``): uplink to the county, and provisioning duties.

Composed here, above kiosk/, because provisioning's command handlers call kiosk
services; kiosk/cli.py finds ``run`` through the ``agriqs.agents`` entry point.
"""

from __future__ import annotations

from kiosk.agent import run_agent
from kiosk.config import KioskConfig


def run(config: KioskConfig) -> int:
    return run_agent(config)
