"""Spoken prompts: every key step has a clip in both languages, and muting silences them."""

from __future__ import annotations

import pygame
import pytest

from ui.audio import AUDIO_DIR, PROMPTS, Prompts


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_prompt_has_a_small_loadable_clip(language) -> None:
    pygame.mixer.init()
    try:
        for key in PROMPTS:
            path = AUDIO_DIR / language / f"{key}.wav"
            assert path.is_file(), path
            assert path.stat().st_size < 200_000
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
