"""Device jobs off the UI thread: one worker thread per device, each with its own services.

Klipper's reactor is the model: the loop never waits on a device. A print at 9600 baud
(52.9 s for one raster label), a 3-minute enzyme run, a 5-15 minute strip wait, a
calibration or a firmware flash runs on the worker that owns that device; the worker
posts progress and the outcome into the UI's queue and the screen redraws from those
messages. SQLite connections belong to one thread, so each worker builds its own
services bundle over the same devices (``Kiosk.open_worker``, set by the composition
root) the first time it runs.

One owner per device: every call on the printer (jobs and status polls) runs on the
printer worker, every call on the reader on the reader worker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk.services.kiosk import Kiosk

log = logging.getLogger(__name__)

#: The devices that have a worker.
DEVICES = ("printer", "reader")
#: Every worker: the devices', and one for PIN checks (scrypt costs 0.2 s here and
#: about 0.8 s on a Pi 4: a frame is 16 ms).
WORKERS = (*DEVICES, "pin")
#: A job is overdue (alarm raised) once it runs this much past its own expected time.
OVERDUE_MARGIN = 1.5


class Cancelled(Exception):
    """Raised inside a job at a point where it may stop (the screen asked to cancel)."""


@dataclass(eq=False)
class Job:
    """One piece of device work: ``work(services, control) -> result``.

    ``on_finish(kind, data)`` runs on the UI thread with kind ``job_done`` (data
    ``result``), ``job_failed`` (``error``) or ``job_cancelled``.
    """

    device: str
    label: str
    work: Callable[[Kiosk, JobControl], Any]
    on_finish: Callable[[str, dict[str, Any]], None]
    on_progress: Callable[[str, dict[str, Any]], None] | None = None
    #: Seconds this job normally takes; past OVERDUE_MARGIN x this it is reported.
    expected_s: float = 60.0
    #: Whether the job has points where it may be stopped (a strip's wait).
    cancellable: bool = False
    started_at: float | None = None
    overdue: bool = False
    control: JobControl | None = field(default=None, repr=False)

    def running_s(self, now: float | None = None) -> float:
        if self.started_at is None:
            return 0.0
        return (now if now is not None else time.monotonic()) - self.started_at

    def is_overdue(self, now: float | None = None) -> bool:
        return self.running_s(now) > self.expected_s * OVERDUE_MARGIN


class JobControl:
    """What a job sees of the UI: progress to show and a cancel request to honour."""

    def __init__(self, job: Job, post: Callable[[str, Job, dict[str, Any]], None]) -> None:
        self.job = job
        self._post = post
        self.cancel_requested = threading.Event()
        self.phase: str | None = None

    def progress(self, *args: Any) -> None:
        """The services' progress callbacks: (done, total) or (phase, elapsed, total).

        During a phase that may be stopped (a strip's wait), a cancel request raises
        ``Cancelled`` from here, before anything was recorded.
        """
        if len(args) == 3:
            self.phase = str(args[0])
            data = {"phase": args[0], "elapsed": float(args[1]), "total": float(args[2])}
            self._post("run_progress", self.job, data)
            if self.phase == "waiting" and self.cancel_requested.is_set():
                raise Cancelled
        else:
            self._post("progress", self.job, {"done": args[0], "total": args[1]})

    def check(self) -> None:
        """Stop here if a cancel was asked for (for jobs that check by themselves)."""
        if self.cancel_requested.is_set():
            raise Cancelled


class DeviceWorker:
    """A thread that runs one device's jobs in order, with its own services bundle."""

    def __init__(
        self,
        device: str,
        open_services: Callable[[], Kiosk],
        post: Callable[[str, Job, dict[str, Any]], None],
        sync: Callable[[Kiosk], None] | None = None,
    ) -> None:
        self.device = device
        self._open_services = open_services
        self._post = post
        self._sync = sync
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self.current: Job | None = None
        self._thread: threading.Thread | None = None
        self._services: Kiosk | None = None

    @property
    def busy(self) -> bool:
        """A job is running or waiting for this device."""
        with self._lock:
            return self._pending > 0

    def submit(self, job: Job) -> Job:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"device:{self.device}", daemon=True
            )
            self._thread.start()
        job.control = JobControl(job, self._post)
        with self._lock:
            self._pending += 1
        self._queue.put(job)
        return job

    def cancel(self, job: Job) -> bool:
        """Ask ``job`` to stop at its next stopping point; False if it has none."""
        if not job.cancellable or job.control is None:
            return False
        job.control.cancel_requested.set()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Let the current job end (bounded) and close this worker's connection."""
        if self._thread is None:
            return
        if self.current is not None and self.current.control is not None:
            self.current.control.cancel_requested.set()
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s worker still busy with %s at exit", self.device, self.current)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            self.current = job
            job.started_at = time.monotonic()
            kind, data = self._execute(job)
            self.current = None
            with self._lock:
                self._pending -= 1
            self._post(kind, job, data)
        if self._services is not None:
            # The devices belong to the main bundle; only this thread's connection closes.
            self._services.store.close()

    def _execute(self, job: Job) -> tuple[str, dict[str, Any]]:
        try:
            if self._services is None:
                self._services = self._open_services()
            if self._sync is not None:
                self._sync(self._services)
            assert job.control is not None
            result = job.work(self._services, job.control)
        except Cancelled:
            log.info("%s job %s cancelled", self.device, job.label)
            return "job_cancelled", {}
        except Exception as error:  # shown by the screen, logged here
            log.info("%s job %s failed: %s: %s", self.device, job.label,
                     type(error).__name__, error)  # fmt: skip
            return "job_failed", {"error": error}
        return "job_done", {"result": result}
