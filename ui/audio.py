"""Spoken prompts for the key steps: WAV clips under ui/assets/audio/<language>/, mutable.

Playback must never stop the flow: without a sound card (or with the mixer missing)
prompts are logged and skipped. ``played`` lets tests see which prompts were asked for.
"""

from __future__ import annotations

import logging
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
)


class Prompts:
    def __init__(self, enabled: bool = True, directory: Path = AUDIO_DIR) -> None:
        self.enabled = enabled
        self.directory = directory
        self.played: list[str] = []
        self._sounds: dict[Path, pygame.mixer.Sound] = {}
        self._mixer_ok: bool | None = None

    def _mixer(self) -> bool:
        if self._mixer_ok is None:
            try:
                pygame.mixer.init()
                self._mixer_ok = True
            except pygame.error as error:
                log.warning("no audio output, prompts are silent: %s", error)
                self._mixer_ok = False
        return self._mixer_ok

    def play(self, key: str, language: str) -> None:
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
            pygame.mixer.stop()
            sound.play()
        except pygame.error as error:
            log.warning("prompt %s not played: %s", key, error)
