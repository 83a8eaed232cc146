"""The touch UI's event loop and navigation: ``run(kiosk)`` is what ``kiosk run`` calls.

The loop waits instead of spinning: it sleeps on a ``threading.Event`` that the
scanner thread and background jobs set when they post, polls SDL's queue (touch)
a few dozen times a second while idle, and redraws only when something changed.
Scans arrive on the scanner's thread and are posted into the pygame queue, so every
screen sees them on the UI thread; a scan no screen is waiting for is ignored.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import pygame

from drivers.fonts import find_cjk_font
from drivers.indicators import BuzzerPattern, LightState
from drivers.printer.base import PrinterStatus
from kiosk.services.kiosk import Kiosk
from kiosk.services.staff import StaffMember
from provisioning.hardware import HardwareDesk, HardwareError, HardwareRequest
from ui import theme
from ui.audio import Prompts
from ui.handwriting import Recogniser
from ui.i18n import I18n
from ui.jobs import WORKERS, DeviceWorker, Job, JobControl
from ui.screens.base import Screen
from ui.session import FarmerSession
from ui.text import Fonts
from ui.widgets import Canvas, Widget

log = logging.getLogger(__name__)

UI_EVENT = pygame.event.custom_type()
POINTER = {
    pygame.MOUSEBUTTONDOWN: "down",
    pygame.MOUSEMOTION: "move",
    pygame.MOUSEBUTTONUP: "up",
}
#: SDL's queue is polled this often while idle (touch latency ≤ this).
IDLE_POLL_S = 0.05
HARDWARE_POLL_S = 1.0
ROSTER_POLL_S = 60.0
#: The printer is asked for its status this often while idle (out-of-service page).
PRINTER_POLL_S = 3.0
#: Free disk and a hold on the whole kiosk are checked this often.
HEALTH_POLL_S = 5.0
#: The idle warning is shown (and spoken) this long before the session is cleared.
IDLE_WARNING_S = 15
#: Hardware requests the agent relays, by the device that runs them.
REQUEST_DEVICE = {
    "hardware_status": "reader",
    "test_print": "printer",
    "reader_selftest": "reader",
    "reader_calibrate": "reader",
    "reader_flash": "reader",
}
#: What each relayed request normally takes (past 1.5x this an alarm is raised).
REQUEST_EXPECTED_S = {"reader_flash": 300.0, "reader_calibrate": 60.0}
#: A kiosk-wide hold: producer and product both "*" (placed by the county).
WHOLE_KIOSK = "*"


class Watchdog(Protocol):
    """What the loop tells systemd (kiosk/infra/watchdog.py in service, nothing in tests)."""

    def ready(self, status: str | None = None) -> object: ...
    def ping(self) -> object: ...
    def stopping(self) -> object: ...


class LogBuffer(logging.Handler):
    """The last lines of the log, for the technician's screen (the screen's own
    text-fitting notes are left out: they are for developers, not technicians)."""

    def __init__(self, size: int = 200) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("ui.widgets"):
            return
        self.lines.append(self.format(record))


class App:
    """One window over one ``Kiosk``; tests drive it with ``step()`` and mouse events."""

    def __init__(
        self,
        kiosk: Kiosk,
        hardware: HardwareDesk,
        *,
        size: tuple[int, int] | None = None,
        dpi: float | None = None,
        fullscreen: bool = False,
        audio: bool | None = None,
    ) -> None:
        cfg = kiosk.config.ui
        self.kiosk = kiosk
        width, height = size or (cfg.width, cfg.height)
        pygame.display.init()
        pygame.font.init()
        flags = pygame.FULLSCREEN if fullscreen else 0
        self.surface = pygame.display.set_mode((width, height), flags)
        pygame.display.set_caption("AgriQS")
        pygame.event.set_blocked([pygame.MOUSEMOTION, pygame.FINGERMOTION])
        self.metrics = theme.Metrics(width, height, dpi or cfg.screen_dpi)
        self.fonts = Fonts(find_cjk_font(kiosk.config.fonts.cjk))
        self.font_path = self.fonts.path
        self.i18n = I18n(cfg.language)
        self.audio = Prompts(cfg.audio if audio is None else audio)
        self.producers = kiosk.producers
        self.staff = kiosk.staff
        #: Hardware requests relayed by the agent; the UI process owns the devices.
        self.hardware = hardware
        if hardware.hardware.restart_ui is None:
            hardware.hardware.restart_ui = self.stop
        self.logs = LogBuffer()
        logging.getLogger().addHandler(self.logs)
        self.session = FarmerSession()
        #: The staff member logged in to staff or technician mode (None: nobody); going
        #: home logs them out.
        self.operator: StaffMember | None = None
        self._operator_mode = ""
        self.stack: list[Screen] = []
        self.canvas: Canvas | None = None
        self.frame_times: list[float] = []
        self.frames = 0
        self.running = False
        self.last_scan: str | None = None
        self._dirty = True
        self._wake = threading.Event()
        self._pressed: Widget | None = None
        self._last_input = time.monotonic()
        self._next_hardware = 0.0
        self._next_roster = 0.0
        self._next_health = 0.0
        self._next_printer_poll = 0.0
        self._next_tick: float | None = None
        #: Poll intervals (tests shorten them).
        self.printer_poll_s = PRINTER_POLL_S
        self.health_poll_s = HEALTH_POLL_S
        #: What the devices and the kiosk said last: the printer's status (None until the
        #: first answer), reader facts for the technician, free disk, a whole-kiosk hold.
        self.printer_status: PrinterStatus | None = None
        self.reader_facts: dict[str, Any] = {}
        self.disk_free_mb: int | None = None
        self.kiosk_hold: str | None = None
        #: Why the clock cannot date a certificate (zh, en), None while it can.
        self.clock_problem: tuple[str, str] | None = None
        if kiosk.open_worker is None:
            raise ValueError("the kiosk was not built by app.compose (no open_worker)")
        open_worker = kiosk.open_worker
        self.workers = {
            name: DeviceWorker(name, open_worker, self._job_event, self._sync_devices)
            for name in WORKERS
        }
        self.jobs: list[Job] = []
        self._recogniser: Recogniser | None = None
        self._recogniser_tried = False
        #: The reader ``open_reader_later`` opened (closed here if never taken).
        self._opened_reader: Any = None
        if kiosk.scanner is not None:
            kiosk.scanner.start(self._scanned)
        if kiosk.indicators is not None:
            kiosk.indicators.set_light(LightState.READY)
        self.go_home(greet=False)

    # -- navigation ---------------------------------------------------------------

    @property
    def top(self) -> Screen:
        return self.stack[-1]

    def push(self, screen: Screen) -> None:
        self.stack.append(screen)
        self._enter()

    def replace(self, screen: Screen) -> None:
        self.stack[-1] = screen
        self._enter()

    def back(self) -> None:
        if len(self.stack) > 1:
            self.stack.pop()
            self._enter()
        else:
            self.go_home()

    def go_home(self, greet: bool = True) -> None:
        """Clear the farmer's session and show the home (or the out-of-service) screen."""
        from ui.screens.farmer import HomeScreen

        self.log_out()
        self.session = FarmerSession()
        self.stack = [HomeScreen(self)]
        problems = self.service_problems()
        if problems:
            from ui.screens.service import OutOfServiceScreen

            self.stack = [OutOfServiceScreen(self, problems)]
            self._enter()
            return
        if greet:
            self._enter()
        else:
            self.invalidate()

    def log_in(self, member: StaffMember, mode: str) -> None:
        """``member`` works the kiosk until the screen goes home (the service audited it)."""
        self.log_out()
        self.operator, self._operator_mode = member, mode

    def log_out(self) -> None:
        if self.operator is not None:
            self.staff.logout(self.operator, self._operator_mode)
            self.operator = None

    def unwind_to(self, kind: type) -> None:
        """Pop back to the nearest screen of ``kind`` (e.g. the staff menu)."""
        while len(self.stack) > 1 and not isinstance(self.top, kind):
            self.stack.pop()
        self._enter()

    def _enter(self) -> None:
        self._pressed = None
        self._next_tick = time.monotonic()
        self.allow_motion(self.top.wants_motion)
        self.top.on_enter()
        self.invalidate()

    def allow_motion(self, allowed: bool) -> None:
        """Finger movements only for a screen that draws them: idle stays idle."""
        if allowed:
            pygame.event.set_allowed([pygame.MOUSEMOTION])
        else:
            pygame.event.set_blocked([pygame.MOUSEMOTION, pygame.FINGERMOTION])

    def recogniser(self) -> Recogniser | None:
        """The handwriting recogniser, opened on first use (None where not installed)."""
        if not self._recogniser_tried:
            self._recogniser_tried = True
            self._recogniser = Recogniser.open()
        return self._recogniser

    # -- services for screens ---------------------------------------------------------

    def invalidate(self) -> None:
        self._dirty = True

    def say(self, prompt: str) -> None:
        """A recorded prompt, queued after what is already being said."""
        self.audio.play(prompt, self.i18n.language)

    def speak(self, text: str) -> None:
        """Words made at run time (a refusal, the confirmation), queued like prompts."""
        self.audio.speak(text, self.i18n.language)

    def signal(self, pattern: BuzzerPattern | None = None, light: LightState | None = None) -> None:
        ind = self.kiosk.indicators
        if ind is None:
            return
        try:
            if pattern is not None:
                ind.beep(pattern)
            if light is not None:
                ind.set_light(light)
        except Exception:  # a buzzer fault must never stop the screen
            log.exception("indicators failed")

    def post(self, kind: str, target: Screen | None = None, **data: Any) -> None:
        """Thread-safe: queue a message for the UI thread and wake the loop."""
        pygame.event.post(pygame.event.Event(UI_EVENT, kind=kind, target=target, data=data))
        self._wake.set()

    def run_job(
        self,
        screen: Screen | None,
        device: str,
        work: Callable[[Kiosk, JobControl], Any],
        *,
        label: str,
        expected_s: float,
        cancellable: bool = False,
        on_finish: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> Job:
        """Run ``work(services, control)`` on ``device``'s worker; the loop keeps going.

        The screen gets ``progress``/``run_progress`` while it runs, then ``job_done``,
        ``job_failed`` or ``job_cancelled`` (dropped if the screen was left meanwhile).
        """

        def to_screen(kind: str, data: dict[str, Any]) -> None:
            if screen is None:
                return
            if screen not in self.stack:
                log.info("%s for a screen that was left: dropped", kind)
                return
            screen.on_message(kind, data)

        job = Job(
            device,
            label,
            work,
            on_finish or to_screen,
            on_progress=to_screen,
            expected_s=expected_s,
            cancellable=cancellable,
        )
        self.jobs.append(job)
        return self.workers[device].submit(job)

    def cancel_job(self, job: Job) -> bool:
        return self.workers[job.device].cancel(job)

    def device_busy(self, device: str) -> bool:
        return self.workers[device].busy

    def _job_event(self, kind: str, job: Job, data: dict[str, Any]) -> None:  # worker threads
        self.post("job", None, job=job, event=kind, payload=data)

    def _sync_devices(self, services: Kiosk) -> None:  # worker threads, before each job
        """Devices attached after start (the reader) reach the workers' bundles too."""
        services.reader = services.rapid_tests.reader = self.kiosk.reader

    def _scanned(self, code: str) -> None:  # the scanner's thread
        self.post("scan", None, code=code)

    # -- the loop -------------------------------------------------------------------

    def find(self, key: str) -> Widget | None:
        return next((w for w in self.top.widgets if w.key == key), None)

    def step(self, max_wait: float = IDLE_POLL_S) -> None:
        """One loop iteration: wait for something, handle it, redraw if needed."""
        events = pygame.event.get()
        if not events and not self._dirty:
            now = time.monotonic()
            wait = max_wait
            if self._next_tick is not None:
                wait = min(wait, max(0.0, self._next_tick - now))
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            events = pygame.event.get()
        for event in events:
            self.handle(event)
        self._timers()
        if self._dirty:
            self.render()

    def handle(self, event: pygame.event.Event) -> None:
        first_button = getattr(event, "button", 1) == 1
        if (
            event.type in POINTER
            and first_button
            and self.top.pointer(POINTER[event.type], event.pos)
        ):
            self._last_input = time.monotonic()
            self.invalidate()
            return
        if event.type == pygame.QUIT:
            self.stop()
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            self._last_input = time.monotonic()
            self._pressed = self._hit(event.pos)
            if self._pressed is not None:
                self._pressed.pressed = True  # type: ignore[attr-defined]  # tappable widgets are Buttons
                self.invalidate()
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            self._last_input = time.monotonic()
            target, pressed = self._hit(event.pos), self._pressed
            self._pressed = None
            if pressed is not None:
                pressed.pressed = False  # type: ignore[attr-defined]  # tappable widgets are Buttons
                self.invalidate()
            if target is not None and target is pressed:
                self.signal(BuzzerPattern.KEY)
                target.on_tap()  # type: ignore[attr-defined]  # tappable widgets are Buttons
                self.invalidate()
        elif event.type == UI_EVENT:
            self._message(event.kind, event.target, event.data)

    def _message(self, kind: str, target: Screen | None, data: dict[str, Any]) -> None:
        if kind == "scan":
            code = data["code"]
            self.last_scan = code
            self._last_input = time.monotonic()
            if not self.top.on_scan(code):
                log.info("scan ignored: no screen is waiting for one (%s)", type(self.top).__name__)
            self.invalidate()
            return
        if kind == "job":
            self._job_message(data["job"], data["event"], data["payload"])
            return
        if target is not None and target not in self.stack:
            log.info("%s for a screen that was left: dropped", kind)
            return
        (target or self.top).on_message(kind, data)
        self.invalidate()

    def _job_message(self, job: Job, event: str, payload: dict[str, Any]) -> None:
        self.invalidate()
        if event in ("progress", "run_progress"):
            if job.on_progress is not None:
                job.on_progress(event, payload)
            return
        if job in self.jobs:
            self.jobs.remove(job)
        if job.overdue:
            self.kiosk.alarms.clear("job_overdue", subject=job.device)
        self._last_input = time.monotonic()  # the person was waiting, not idle
        if job.device == "printer" and job.label not in ("status", "ready"):
            self.forget_printer_status()
        job.on_finish(event, payload)

    def _hit(self, pos: tuple[int, int]) -> Widget | None:
        for widget in reversed(self.top.widgets):
            if widget.tappable and widget.rect.collidepoint(pos):
                return widget
        return None

    def _timers(self) -> None:
        now = time.monotonic()
        self._idle(now)
        if self._next_tick is not None and now >= self._next_tick:
            self._next_tick = self.top.tick(now)
        self.audio.pump()
        self._overdue(now)
        if now >= self._next_printer_poll:
            self._next_printer_poll = now + self.printer_poll_s
            self._poll_printer()
        if now >= self._next_health:
            self._next_health = now + self.health_poll_s
            self._check_health()
        if now >= self._next_hardware:
            self._next_hardware = now + HARDWARE_POLL_S
            try:
                self._serve_hardware()
            except Exception:
                log.exception("hardware request failed")
        if now >= self._next_roster:
            self._next_roster = now + ROSTER_POLL_S
            roster = self.kiosk.config.paths.data_dir / "producers" / "roster.json"
            try:
                self.producers.import_roster(roster)
            except (ValueError, OSError) as error:
                log.error("county roster not imported: %s", error)
        self._update_service_page()

    def _idle(self, now: float) -> None:
        """Warn (on screen and aloud), then clear a session left alone."""
        from ui.screens.farmer import IdleWarningScreen

        idle = now - self._last_input
        in_session = len(self.stack) > 1 or self.session.producer is not None
        if not in_session or self.top.busy or not self.top.idle_clears:
            return
        limit = self.kiosk.config.ui.idle_timeout_s
        if idle > limit:
            log.info("idle for %.0f s: session cleared", idle)
            self.go_home(greet=False)
        elif idle > limit - IDLE_WARNING_S and not isinstance(self.top, IdleWarningScreen):
            self.push(IdleWarningScreen(self, self._last_input + limit))

    def touch(self) -> None:
        """Someone is here: restart the idle count."""
        self._last_input = time.monotonic()

    def _overdue(self, now: float) -> None:
        """A job far past its own expected time is reported, not waited on silently."""
        for worker in self.workers.values():
            job = worker.current
            if job is None or job.overdue or not job.is_overdue(now):
                continue
            job.overdue = True
            log.error("%s job %s overdue: %.0f s (expected %.0f s)", job.device, job.label,
                      job.running_s(now), job.expected_s)  # fmt: skip
            self.kiosk.alarms.raise_(
                "job_overdue",
                "warning",
                f"设备任务超时：{job.label}已运行{job.running_s(now):.0f}秒"
                f"（预计{job.expected_s:.0f}秒）",
                {"device": job.device, "job": job.label, "expected_s": job.expected_s},
                subject=job.device,
            )

    def forget_printer_status(self) -> None:
        """What the printer said is stale (a job ran, a bench control changed it): it
        counts as unknown until the worker asks again, which it does now."""
        self.printer_status = None
        self._next_printer_poll = 0.0

    def _poll_printer(self) -> None:
        """Ask the printer for its status on its own worker, only when it is idle."""
        if self.workers["printer"].busy:
            return

        def done(kind: str, data: dict[str, Any]) -> None:
            if kind == "job_done":
                status = data["result"]
                if status != self.printer_status:
                    self.printer_status = status
                    self.invalidate()

        self.run_job(
            None,
            "printer",
            lambda services, control: services.printer.status(),
            label="status",
            expected_s=10.0,
            on_finish=done,
        )

    def _check_health(self) -> None:
        """Free disk and a hold on the whole kiosk (both cheap), for the service page."""
        try:
            free = shutil.disk_usage(self.kiosk.config.paths.data_dir).free // (1024 * 1024)
        except OSError:
            free = None
        hold = next(
            (
                h.reason
                for h in self.kiosk.holds.open_holds()
                if h.producer_key == WHOLE_KIOSK and h.product_code == WHOLE_KIOSK
            ),
            None,
        )
        if (free, hold) != (self.disk_free_mb, self.kiosk_hold):
            self.disk_free_mb, self.kiosk_hold = free, hold
            self.invalidate()
        in_session = len(self.stack) > 1 or self.session.producer is not None
        # A print happens inside a session; a rapid test may run on after staff left.
        jobs = ["reader"] if "reader" in self.workers and self.workers["reader"].busy else []
        busy = in_session or bool(jobs)
        self.kiosk.report_activity(busy, ("session " if in_session else "") + " ".join(jobs))
        refusal = self.kiosk.issuance.clock_refusal()  # raises/clears alarm ``clock``
        clock = None if refusal is None else (refusal.message, refusal.message_en)
        if clock != self.clock_problem:
            self.clock_problem = clock
            self.invalidate()

    def service_problems(self) -> list[str]:
        """Why farmers cannot be served now (i18n keys); empty when all is well."""
        problems = []
        status = self.printer_status
        if status is not None and status.known and status.fault is not None:
            problems.append(f"oos_{status.fault.value}")
        if (
            self.disk_free_mb is not None
            and self.disk_free_mb < self.kiosk.config.paths.min_free_mb
        ):
            problems.append("oos_disk_full")
        if self.kiosk_hold is not None:
            problems.append("oos_hold")
        if self.clock_problem is not None:
            problems.append("oos_clock")
        return problems

    def _update_service_page(self) -> None:
        """Show the out-of-service page where a farmer would start; leave it by itself."""
        from ui.screens.service import OutOfServiceScreen

        problems = self.service_problems()
        top = self.top
        if isinstance(top, OutOfServiceScreen):
            if not problems:
                log.info("back in service")
                self.go_home(greet=False)
            elif problems != top.problems:
                top.problems = problems
                self.invalidate()
        elif (
            problems
            and all(screen.farmer for screen in self.stack)
            and not top.busy
            and top.yields_to_service
        ):
            log.warning("out of service: %s", ", ".join(problems))
            self.go_home(greet=False)

    def _serve_hardware(self) -> None:
        """Take relayed requests here; run each on the worker owning its device."""
        request = self.hardware.take()
        if request is None:
            return
        if request.action == "restart_ui":
            self._run_request_here(request)
            return
        device = REQUEST_DEVICE.get(request.action)
        if device is None:
            self.hardware.answer(request, error=HardwareError(f"unknown action {request.action}"))
            return
        if self.workers[device].busy:
            busy = (
                "读数仪正在检测，请稍后再试" if device == "reader" else "打印机正在打印，请稍后再试"
            )
            self.hardware.answer(request, error=HardwareError(f"{device} busy: {busy}"))
            return
        direct = self.hardware.hardware
        printer_status = self.printer_status

        def work(services: Kiosk, control: JobControl) -> dict[str, Any]:
            if request.action == "hardware_status":
                # The reader is asked here; the printer's status is the printer worker's.
                out = direct.run(request.action, request.args, request.command_id)
                if printer_status is not None:
                    out["printer"] = {
                        "ready": printer_status.ready,
                        "fault": str(printer_status.fault or ""),
                    }
                return out
            return direct.run(request.action, request.args, request.command_id)

        def done(kind: str, data: dict[str, Any]) -> None:
            if kind == "job_done":
                self.hardware.answer(request, result=data["result"])
            else:
                self.hardware.answer(request, error=data.get("error") or HardwareError(kind))

        self.run_job(
            None,
            device,
            work,
            label=request.action,
            expected_s=REQUEST_EXPECTED_S.get(request.action, 30.0),
            on_finish=done,
        )

    def _run_request_here(self, request: HardwareRequest) -> None:
        try:
            result = self.hardware.hardware.run(request.action, request.args, request.command_id)
        except Exception as error:
            self.hardware.answer(request, error=error)
        else:
            self.hardware.answer(request, result=result)

    def render(self) -> None:
        started = time.perf_counter()
        self._dirty = False
        screen = self.top
        area = self.surface.get_rect()
        screen.widgets = screen.build(area)
        if self._pressed is not None:
            for widget in screen.widgets:
                if widget.key == self._pressed.key and widget.tappable:
                    widget.pressed = True  # type: ignore[attr-defined]  # tappable widgets are Buttons
                    self._pressed = widget
        self.surface.fill(theme.BACKGROUND)
        self.canvas = Canvas(self.surface, self.fonts, self.metrics)
        for widget in screen.widgets:
            widget.draw(self.canvas)
        pygame.display.flip()
        self.frames += 1
        self.frame_times.append(time.perf_counter() - started)
        if len(self.frame_times) > 1000:
            del self.frame_times[:500]

    def stop(self) -> None:
        self.running = False
        self._wake.set()

    def serve(self, watchdog: Watchdog | None = None) -> int:
        """Run until stopped (window closed, SIGTERM, restart request).

        The watchdog is pinged after every iteration: device jobs run on their workers,
        so an iteration is short even during a 3-minute run or a firmware flash, and a
        loop that hangs stops the pings, as it should.
        """
        self.running = True
        self.render()
        if watchdog is not None:
            watchdog.ready("touch UI ready")
        while self.running:
            self.step()
            if watchdog is not None:
                watchdog.ping()
        if watchdog is not None:
            watchdog.stopping()
        return 0

    def open_reader_later(self, opener: Callable[[Kiosk], Any]) -> Job:
        """Open the rapid-test reader on its worker while the first frame is drawn.

        Starting the simulator or a real reader's handshake takes 0.4 s here, and a
        reader that is plugged in but silent holds its opener up to the link's open
        timeout (10 s): the screen must not wait for either. ``opener(services)``
        attaches the reader to the worker's bundle (raising or clearing the alarm on
        the worker's own connection) and returns it; the UI's bundle takes it here, and
        every later job gets it through ``_sync_devices``.
        """

        def work(services: Kiosk, control: JobControl) -> Any:
            self._opened_reader = opener(services)
            return self._opened_reader

        def done(kind: str, data: dict[str, Any]) -> None:
            reader = data.get("result") if kind == "job_done" else None
            if reader is not None:
                self.kiosk.reader = self.kiosk.rapid_tests.reader = reader
                self._dirty = True
            elif kind == "job_failed":
                log.error("rapid-test reader not opened: %s", data.get("error"))

        return self.run_job(
            None, "reader", work, label="reader_open", expected_s=15.0, on_finish=done
        )

    def close(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        opened = self._opened_reader
        if opened is not None and self.kiosk.reader is not opened:
            opened.close()  # opened after the loop had stopped taking its answer
        self.audio.close()
        if self._recogniser is not None:
            self._recogniser.close()
        logging.getLogger().removeHandler(self.logs)
        pygame.display.quit()


def run(
    kiosk: Kiosk,
    hardware: HardwareDesk,
    watchdog: Watchdog | None,
    open_reader: Callable[[Kiosk], Any] | None = None,
) -> int:
    """Open the window over ``kiosk`` and serve until stopped (``kiosk run``);
    ``open_reader`` runs on the reader's worker once the loop is up."""
    app = App(kiosk, hardware, fullscreen=kiosk.config.ui.fullscreen)
    if open_reader is not None:
        app.open_reader_later(open_reader)
    previous = signal.signal(signal.SIGTERM, lambda *_: app.stop())
    try:
        return app.serve(watchdog)
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.close()
