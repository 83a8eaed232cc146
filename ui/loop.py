"""The touch UI's event loop and navigation: ``run(kiosk)`` is what ``kiosk run`` calls.

The loop waits instead of spinning: it sleeps on a ``threading.Event`` that the
scanner thread and background jobs set when they post, polls SDL's queue (touch)
a few dozen times a second while idle, and redraws only when something changed.
Scans arrive on the scanner's thread and are posted into the pygame queue, so every
screen sees them on the UI thread; a scan no screen is waiting for is ignored.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import pygame

from drivers.fonts import find_cjk_font
from drivers.indicators import BuzzerPattern, LightState
from kiosk.services.kiosk import Kiosk
from provisioning.hardware import HardwareDesk
from ui import theme
from ui.audio import Prompts
from ui.i18n import I18n
from ui.screens.base import Screen
from ui.session import FarmerSession
from ui.text import Fonts
from ui.widgets import Canvas, Widget

log = logging.getLogger(__name__)

UI_EVENT = pygame.event.custom_type()
#: SDL's queue is polled this often while idle (touch latency ≤ this).
IDLE_POLL_S = 0.05
HARDWARE_POLL_S = 1.0
ROSTER_POLL_S = 60.0


class Watchdog(Protocol):
    """What the loop tells systemd (kiosk/infra/watchdog.py in service, nothing in tests)."""

    def ready(self, status: str | None = None) -> object: ...
    def ping(self) -> object: ...
    def stopping(self) -> object: ...


class LogBuffer(logging.Handler):
    """The last lines of the log, for the technician's screen."""

    def __init__(self, size: int = 200) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
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
        self._next_tick: float | None = None
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
        """Clear the farmer's session and show the home screen."""
        from ui.screens.farmer import HomeScreen

        self.session = FarmerSession()
        self.stack = [HomeScreen(self)]
        if greet:
            self._enter()
        else:
            self.invalidate()

    def unwind_to(self, kind: type) -> None:
        """Pop back to the nearest screen of ``kind`` (e.g. the staff menu)."""
        while len(self.stack) > 1 and not isinstance(self.top, kind):
            self.stack.pop()
        self._enter()

    def _enter(self) -> None:
        self._pressed = None
        self._next_tick = time.monotonic()
        self.top.on_enter()
        self.invalidate()

    # -- services for screens ---------------------------------------------------------

    def invalidate(self) -> None:
        self._dirty = True

    def say(self, prompt: str) -> None:
        self.audio.play(prompt, self.i18n.language)

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

    def run_job(self, screen: Screen, job: Callable[[Callable[..., None]], Any]) -> None:
        """Run ``job(progress)`` on the UI thread once the screen has been drawn.

        The kiosk's SQLite connection belongs to this thread, so services run here;
        their progress callbacks (after each label, each reader tick) redraw the
        screen. The screen then gets ``job_done`` or ``job_failed``.
        """
        self.post("run_job", screen, job=job)

    def _run_job(self, screen: Screen, job: Callable[[Callable[..., None]], Any]) -> None:
        def progress(*args: Any) -> None:
            if len(args) == 2:
                screen.on_message("progress", {"done": args[0], "total": args[1]})
            else:
                screen.on_message("run_progress", {"elapsed": args[1], "total": args[2]})
            pygame.event.pump()
            if self.top is screen:
                self.render()

        self.render()
        try:
            result = job(progress)
        except Exception as error:  # shown to the user by the screen, logged here
            log.info("job failed: %s: %s", type(error).__name__, error)
            screen.on_message("job_failed", {"error": error})
        else:
            screen.on_message("job_done", {"result": result})
        self._last_input = time.monotonic()
        self.invalidate()

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
        if kind == "run_job":
            self._run_job(target or self.top, data["job"])
            return
        if target is not None and target not in self.stack:
            log.info("%s for a screen that was left: dropped", kind)
            return
        (target or self.top).on_message(kind, data)
        self.invalidate()

    def _hit(self, pos: tuple[int, int]) -> Widget | None:
        for widget in reversed(self.top.widgets):
            if widget.tappable and widget.rect.collidepoint(pos):
                return widget
        return None

    def _timers(self) -> None:
        now = time.monotonic()
        idle = now - self._last_input
        if (
            idle > self.kiosk.config.ui.idle_timeout_s
            and not self.top.busy
            and (len(self.stack) > 1 or self.session.producer is not None)
        ):
            log.info("idle for %.0f s: session cleared", idle)
            self.go_home(greet=False)
        if self._next_tick is not None and now >= self._next_tick:
            self._next_tick = self.top.tick(now)
        if now >= self._next_hardware:
            self._next_hardware = now + HARDWARE_POLL_S
            try:
                if self.hardware.serve_pending():
                    self.invalidate()
            except Exception:
                log.exception("hardware request failed")
        if now >= self._next_roster:
            self._next_roster = now + ROSTER_POLL_S
            roster = self.kiosk.config.paths.data_dir / "producers" / "roster.json"
            try:
                self.producers.import_roster(roster)
            except (ValueError, OSError) as error:
                log.error("county roster not imported: %s", error)

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
        """Run until stopped (window closed, SIGTERM, restart request)."""
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

    def close(self) -> None:
        logging.getLogger().removeHandler(self.logs)
        pygame.display.quit()


def run(kiosk: Kiosk, hardware: HardwareDesk, watchdog: Watchdog | None) -> int:
    """Open the window over ``kiosk`` and serve until stopped (``kiosk run``)."""
    app = App(kiosk, hardware, fullscreen=kiosk.config.ui.fullscreen)
    previous = signal.signal(signal.SIGTERM, lambda *_: app.stop())
    try:
        return app.serve(watchdog)
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.close()
