"""bench/bench_province.py in miniature: five kiosks, a broker restart, nothing lost.

The benchmark's figures are not checked here (timing goals live in bench/); what is
checked is that its accounting holds on a real broker, collector and SQLite store:
every event the broker acknowledged is stored, every kiosk reconnects and says
"online", and nothing is refused or quarantined.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_province", ROOT / "bench" / "bench_province.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def test_five_kiosks_survive_a_broker_restart_without_losing_an_event(tmp_path: Path) -> None:
    bench = load_bench()
    opts = bench.Options(
        kiosks=5, day_s=2.0, duration_s=2.5, restart_at_s=1.0, down_s=0.3,
        reconnect_min_s=0.2, no_subscriber_retry_s=0.2, boot_spread_s=0.3,
        baseline=False, drain_timeout_s=30.0,
    )  # fmt: skip
    result = bench.run(opts, tmp_path)
    assert bench.check(result) == []
    assert result.lost == 0
    assert result.acked == result.published_events > 50
    assert result.stored == result.acked
    assert result.states_online == 5
    assert 0 < result.reconnect_all_s < 30
    assert result.broker_peak_rss_mb > 0
