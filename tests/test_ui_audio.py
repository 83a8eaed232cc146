"""Spoken prompts: every key step has a clip in both languages, and muting silences them."""

from __future__ import annotations

import wave

import pygame
import pytest

from ui.audio import AUDIO_DIR, PROMPTS, Prompts


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_prompt_has_a_clear_loadable_clip(language) -> None:
    """16 kHz 16-bit (issue 12: 8 kHz 8-bit was too poor), and at most half a minute."""
    pygame.mixer.init()
    try:
        for key in PROMPTS:
            path = AUDIO_DIR / language / f"{key}.wav"
            assert path.is_file(), path
            with wave.open(str(path)) as clip:
                assert clip.getframerate() >= 16000 and clip.getsampwidth() == 2, path
                assert clip.getnframes() / clip.getframerate() < 30, path
            assert pygame.mixer.Sound(str(path)).get_length() > 0.3
    finally:
        pygame.mixer.quit()


def test_muted_prompts_are_not_played() -> None:
    prompts = Prompts(enabled=False)
    prompts.play("welcome", "zh-CN")
    assert prompts.played == []
    prompts.enabled = True
    prompts.play("welcome", "zh-CN")
    assert prompts.played == ["welcome"]
