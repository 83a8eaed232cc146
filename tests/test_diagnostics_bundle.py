"""A diagnostics bundle (issue 18 item 4) on a real Mosquitto: a signed command asks the
kiosk's agent listener for it; it comes compressed, in chunks checked against its
SHA-256, with recent logs, the effective config (paths, never the secrets they hold),
versions, link state, disk and alarm history."""

from __future__ import annotations

import io
import json
import secrets
import tarfile

from support.mqtt_broker import broker_factory  # noqa: F401  (fixture)
from test_provisioning_commands import setup  # noqa: F401  (fixture)

from provisioning.commands import DIAG_CHUNK


def test_a_diagnostics_bundle_arrives_at_the_county_in_chunks(setup) -> None:  # noqa: F811
    kiosk, county, _, _ = setup
    kiosk.alarms.raise_("paper_out", "warning", "标签纸用完了")
    kiosk.alarms.clear("paper_out")
    kiosk.alarms.raise_("disk_low", "warning", "磁盘将满")
    logs = kiosk.config.paths.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    noise = secrets.token_hex(200_000)  # does not compress much: several chunks
    (logs / "agent.log").write_text(f"first line\n{noise}\nlast line 最后\n", "utf-8")
    data, outcome = county.fetch_diagnostics("330100", "K001")
    assert data is not None, outcome.reply
    assert len(data) > 2 * DIAG_CHUNK
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        summary = json.loads(tar.extractfile("diagnostics.json").read())  # type: ignore[union-attr]
        log_text = tar.extractfile("logs/agent.log").read().decode()  # type: ignore[union-attr]
    assert names == ["diagnostics.json", "logs/agent.log"]
    assert log_text.endswith("last line 最后\n")
    history = {(a["code"], a["cleared_at"] is not None) for a in summary["alarm_history"]}
    assert {("paper_out", True), ("disk_low", False)} <= history
    assert summary["config"]["device"]["device_id"] == "K001"
    password_file = summary["config"]["uplink"]["password_file"]
    assert password_file and "pw-a" not in json.dumps(summary)  # the path, not the secret
    assert "free_mb" in summary["disk"] and "backlog" in summary
    assert "printer" in json.dumps(summary["hardware"])
    sent = kiosk.audit.entries(kind="diagnostics.sent")
    assert sent and sent[-1].data["size"] == len(data)
    # A chunk asked for a bundle the kiosk does not have is refused, not made up.
    refused = county.send("330100", "K001", "diagnostics_bundle",
                          {"bundle": "0123456789abcdef", "offset": 4096})  # fmt: skip
    assert refused.status == "error" and "offset 0" in refused.reply["reason"]
