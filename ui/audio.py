"""Spoken prompts and spoken words, queued so one never cuts another off.

Recorded prompts are WAV clips under ui/assets/audio/<language>/ (16 kHz, 16-bit,
made by make_clips.py). Words known only at run time (a refusal in the service's own
words, "青菜，十公斤，张秀英" before the commitment) are spoken by espeak-ng, run on a
small thread so the loop never waits for it. Everything goes into one queue, played in
order on one mixer channel: ``pump()`` (called by the loop) starts the next item once
the channel is free.

Playback must never stop the flow: without a sound card, the mixer or espeak-ng, prompts
are logged and skipped. ``played`` and ``spoken`` let tests see what was asked for.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pygame

log = logging.getLogger(__name__)

AUDIO_DIR = Path(__file__).with_name("assets") / "audio"
#: The prompts shipped; ui/assets/audio/make_clips.py regenerates them.
PROMPTS = (
    "welcome",
    "identify",
    "product",
    "quantity",
    "inputs",
    "basis",
    "confirm",
    "commitment",
    "printing",
    "take_labels",
    "refused",
    "paper_out",
    "idle_warning",
    "out_of_service",
    "write_name",
)
#: espeak-ng voices per UI language, and its speaking rate (words per minute): slower
#: than its default for elderly listeners.
VOICES = {"zh-CN": "cmn", "en": "en"}
RATE_WPM = 140
#: Longest text spoken at run time (a refusal is a sentence or two).
MAX_SPOKEN_CHARS = 200
SYNTH_TIMEOUT_S = 10.0


def synthesize(text: str, language: str) -> bytes | None:
    """WAV bytes of ``text`` from espeak-ng, or None when it is not installed or fails."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    voice = VOICES.get(language, "cmn")
    try:
        out = subprocess.run(
            [exe, "-v", voice, "-s", str(RATE_WPM), "--stdout", text[:MAX_SPOKEN_CHARS]],
            capture_output=True,
            timeout=SYNTH_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("espeak-ng could not speak %r: %s", text[:40], error)
        return None
    return out.stdout or None


class Prompts:
    def __init__(self, enabled: bool = True, directory: Path = AUDIO_DIR) -> None:
        self.enabled = enabled
        self.directory = directory
        #: Recorded prompts asked for, and texts asked to be spoken, in order.
        self.played: list[str] = []
        self.spoken: list[str] = []
        self._sounds: dict[Path, pygame.mixer.Sound] = {}
        self._mixer_ok: bool | None = None
        self._channel: pygame.mixer.Channel | None = None
        self._queue: deque[tuple[str, Future[bytes | None] | pygame.mixer.Sound | None]] = deque()
        self._synth = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech")
        self._lock = threading.Lock()

    def _mixer(self) -> bool:
        if self._mixer_ok is None:
            try:
                pygame.mixer.init()
                self._channel = pygame.mixer.Channel(0)
                self._mixer_ok = True
            except pygame.error as error:
                log.warning("no audio output, prompts are silent: %s", error)
                self._mixer_ok = False
        return self._mixer_ok

    def play(self, key: str, language: str) -> None:
        """Queue a recorded prompt."""
        if not self.enabled:
            return
        self.played.append(key)
        path = self.directory / ("en" if language == "en" else "zh") / f"{key}.wav"
        if not path.is_file() or not self._mixer():
            return
        try:
            sound = self._sounds.get(path)
            if sound is None:
                sound = self._sounds[path] = pygame.mixer.Sound(str(path))
        except pygame.error as error:
            log.warning("prompt %s not played: %s", key, error)
            return
        self._queue.append((key, sound))
        self.pump()

    def speak(self, text: str, language: str) -> None:
        """Queue words made at run time; synthesis runs off the loop's thread."""
        text = " ".join(text.split())
        if not self.enabled or not text:
            return
        self.spoken.append(text)
        if not self._mixer():
            return
        self._queue.append((text, self._synth.submit(synthesize, text, language)))
        self.pump()

    def clear(self) -> None:
        """Drop what is queued (a new person at the kiosk); what is playing ends."""
        self._queue.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def pump(self) -> None:
        """Start the next queued item when the channel is free (called by the loop)."""
        if not self._queue or self._channel is None or self._channel.get_busy():
            return
        name, item = self._queue[0]
        if isinstance(item, Future):
            if not item.done():
                return  # keep the order: later prompts wait for these words
            data = item.result()
            try:
                item = pygame.mixer.Sound(io.BytesIO(data)) if data else None
            except pygame.error as error:
                log.warning("speech %r not played: %s", name[:40], error)
                item = None
        self._queue.popleft()
        if item is not None:
            self._channel.play(item)
        elif self._queue:
            self.pump()

    def close(self) -> None:
        self._queue.clear()
        self._synth.shutdown(wait=False, cancel_futures=True)
