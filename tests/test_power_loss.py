"""A pulled power cord: the kiosk process is SIGKILLed, then started again.

The child processes are real kiosks over the same data directory; nothing is
mocked but the moment of death.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from support.kiosk import configured, request

from app.compose import open_kiosk
from kiosk.domain.model import CertificateStatus

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from app.compose import open_kiosk
    from support.kiosk import configured, request

    kiosk = open_kiosk(configured(__import__("pathlib").Path({data!r})))
    mode = {mode!r}
    if mode == "die-at-print":
        # Killed after the certificate's transaction committed, before any byte printed.
        kiosk.printer.print_label = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        kiosk.issuance.issue(request())
    else:
        print("ready", flush=True)
        while True:
            kiosk.issuance.issue(request())
    """
)


def run_child(data: Path, mode: str, kill_after: float | None = None) -> int:
    code = CHILD.format(tests=str(Path(__file__).parent), data=str(data), mode=mode)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    if kill_after is not None:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
    return child.wait(timeout=60)


def test_killed_between_commit_and_print(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_child(data, "die-at-print") == -signal.SIGKILL
    with open_kiosk(configured(data)) as kiosk:
        unprinted = kiosk.issuance.unprinted()
        assert [c.number for c in unprinted] == ["330100-K001-0000001"]
        assert unprinted[0].status is CertificateStatus.ISSUED
        events = [r[0] for r in kiosk.store.conn.execute("SELECT schema FROM outbox")]
        assert events == ["certificate.issued"]
        # The farmer's label comes out as a reprint of the same number.
        assert kiosk.issuance.reprint("330100-K001-0000001").printed
        assert kiosk.issuance.issue(request()).certificate.number == "330100-K001-0000002"


def test_killed_at_random_moments_never_reuses_a_number(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for delay in (0.05, 0.2, 0.35):
        assert run_child(data, "loop", kill_after=delay) == -signal.SIGKILL
    with open_kiosk(configured(data)) as kiosk:
        assert kiosk.store.integrity_check() == []
        certs = kiosk.issuance.list()
        seqs = sorted(c.seq for c in certs)
        assert len(seqs) == len(set(seqs)) > 0
        issued_events = kiosk.store.conn.execute(
            "SELECT count(*) FROM outbox WHERE schema = 'certificate.issued'"
        ).fetchone()[0]
        assert issued_events == len(certs)  # every record told the county, no orphan events
        floor = kiosk.numbers.read_floor()
        assert floor >= seqs[-1]
        nxt = kiosk.issuance.issue(request()).certificate
        assert nxt.seq > floor


def test_restoring_an_older_backup_does_not_reuse_numbers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())
        kiosk.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backup = tmp_path / "backup.db"
    shutil.copy(data / "kiosk.db", backup)
    with open_kiosk(configured(data)) as kiosk:
        later = [kiosk.issuance.issue(request()).certificate.number for _ in range(3)]
    assert later[-1].endswith("0000004")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data / 'kiosk.db'}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, data / "kiosk.db")
    with open_kiosk(configured(data)) as kiosk:
        alarm = kiosk.store.conn.execute(
            "SELECT body FROM outbox WHERE schema = 'alarm.raised'"
        ).fetchone()
        assert alarm and "counter_restored" in alarm[0]
        number = kiosk.issuance.issue(request()).certificate.number
    assert number == "330100-K001-0000005"
    assert number not in later
    # Opening again raises no second alarm.
    with open_kiosk(configured(data)) as kiosk:
        alarms = kiosk.store.conn.execute(
            "SELECT count(*) FROM outbox WHERE schema = 'alarm.raised'"
        ).fetchone()[0]
        assert alarms == 1
    assert os.path.exists(data / "counter-floors.bin")


SECOND = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from app.compose import open_kiosk
    from support.kiosk import configured

    kiosk = open_kiosk(configured(__import__("pathlib").Path({data!r})))
    alarms = kiosk.store.conn.execute(
        "SELECT count(*) FROM outbox WHERE body LIKE '%counter_restored%'"
    ).fetchone()[0]
    print(alarms, kiosk.store.counter("certificate_seq"))
    """
)


def test_a_second_process_opening_mid_issue_sees_no_restore(tmp_path: Path) -> None:
    """The CLI opened while the touch UI issues: the UI's floor file is written just
    before its commit. Read outside the write lock that looked like a restored backup: a
    false critical ``counter_restored`` and a number skipped (red-team finding)."""
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as ui:
        code = SECOND.format(tests=str(Path(__file__).parent), data=str(data))
        with ui.store.transaction():
            seq, _number = ui.numbers.next()  # floor file written, counter not committed
            second = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                      text=True)  # fmt: skip
            time.sleep(1.0)  # the second process starts while this one has not committed
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 0
        alarms, counter = map(int, out.split())
        assert (alarms, counter) == (0, seq)  # no false alarm, no number skipped
