"""Software rollout from the county (issue 18 item 2): a signed bundle pushed to a
device, a township or the county, canaries first, halted by itself on failures.

The bundle travels as chunked, resumable ``software_update`` commands (signed, one
connection, station/commands.py); each kiosk checks the SHA-256 and the release
signature before it stages the bundle for its root updater, which refuses a downgrade
and rolls back an unhealthy version (kiosk/infra/update.py). A device counts as
updated when it reports the new version (its retained state message, ``station devices
list``) within the health timeout; a failed transfer, a refused bundle or a version that
never arrives (rolled back) is a failure. The canaries go first; once the failures
reach ``max_failures`` nothing more is sent.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class RolloutError(ValueError):
    """The bundle or the target cannot be rolled out."""


@dataclass
class RolloutResult:
    version: str
    status: str = "done"  # done | halted
    updated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_sent: list[str] = field(default_factory=list)


def bundle_version(bundle: bytes) -> str:
    """The version the bundle's manifest names (the kiosk verifies the signature)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise RolloutError("bundle has no manifest.json")
            body = json.loads(json.loads(member.read())["body"])
    except (tarfile.TarError, KeyError, ValueError) as error:
        raise RolloutError(f"not a software bundle: {error}") from None
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise RolloutError("manifest names no version")
    return version


def roll_out(
    send: Callable[[str], tuple[bool, str]],
    healthy: Callable[[str, str], bool],
    devices: list[str],
    version: str,
    *,
    canaries: int = 1,
    max_failures: int = 1,
) -> RolloutResult:
    """``send(device)`` -> (ok, reason); ``healthy(device, version)`` waits for the
    device to report ``version``. Canaries first, then the rest, one at a time."""
    if not devices:
        raise RolloutError("no devices to update")
    if canaries < 1 or max_failures < 1:
        raise RolloutError("canaries and max_failures are at least 1")
    result = RolloutResult(version)
    order = devices[:canaries] + devices[canaries:]
    for index, device in enumerate(order):
        stage = "canary" if index < canaries else "rest"
        ok, reason = send(device)
        if ok and not healthy(device, version):
            ok, reason = False, f"did not report {version} healthy (rolled back?)"
        if ok:
            result.updated.append(device)
            log.info("rollout %s: %s (%s) updated", version, device, stage)
        else:
            result.failed[device] = reason
            log.error("rollout %s: %s (%s) failed: %s", version, device, stage, reason)
        if len(result.failed) >= max_failures:
            result.status = "halted"
            result.not_sent = order[index + 1 :]
            log.error("rollout %s halted: %d failure(s); not sent to %s", version,
                      len(result.failed), ", ".join(result.not_sent) or "nobody")  # fmt: skip
            return result
    return result


def wait_for_version(
    reported: Callable[[str], str | None], timeout_s: float, poll_s: float = 1.0
) -> Callable[[str, str], bool]:
    """A ``healthy`` that polls ``reported(device)`` until it names the version."""

    def healthy(device: str, version: str) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if reported(device) == version:
                return True
            time.sleep(poll_s)
        return False

    return healthy
