"""Whether a farmer or a tester is using the kiosk now: the UI says so, the agent asks.

The touch UI records a change of state (a farmer's session, a device job such as a
rapid test or a print) in ``{data_dir}/ui-activity.json``; the agent releases a staged
software bundle to the root updater (which restarts the kiosk) only at a quiet moment
(provisioning/commands.py). Written on change only, so a busy state left by a UI that
crashed counts for at most ``STALE_BUSY_S``; no file (a kiosk without a UI) is quiet.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from wire.files import PRIVATE, atomic_write

ACTIVITY_FILE = "ui-activity.json"
#: A busy state older than this is a UI that died mid-session, not a farmer.
STALE_BUSY_S = 2 * 3600


def record(data_dir: Path, busy: bool, what: str = "") -> None:
    body = {"busy": busy, "what": what, "at": time.time()}
    atomic_write(data_dir / ACTIVITY_FILE, json.dumps(body).encode(), mode=PRIVATE)


def quiet(data_dir: Path, now: float | None = None) -> tuple[bool, str]:
    """(quiet, why not)."""
    try:
        state = json.loads((data_dir / ACTIVITY_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return True, ""
    if not isinstance(state, dict) or not state.get("busy"):
        return True, ""
    age = (now if now is not None else time.time()) - float(state.get("at", 0))
    if age > STALE_BUSY_S:
        return True, ""
    return False, str(state.get("what") or "busy")
