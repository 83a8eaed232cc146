"""Handwriting recognition with Zinnia (Debian ``libzinnia0``), over ctypes.

Zinnia is an offline SVM recogniser; the model is Tegaki's simplified-Chinese one
(Debian ``tegaki-zinnia-simplified-chinese``). PyPI has no maintained binding (the
``zinnia-python`` SWIG module is built only by Debian for the system Python, not for a
venv), so this module declares the dozen C functions of zinnia.h it uses. Strokes are
lists of (x, y) points in a square box; ``recognise`` returns the best characters.

Everything degrades: without the library or the model, ``Recogniser.open`` returns None
and the name screen offers pinyin only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

MODEL_PATHS = (
    Path("/usr/share/tegaki/models/zinnia/handwriting-zh_CN.model"),
    Path("/usr/local/share/tegaki/models/zinnia/handwriting-zh_CN.model"),
)
LIBRARY_NAMES = ("libzinnia.so.0", "zinnia")

Stroke = Sequence[tuple[float, float]]


def _load_library() -> ctypes.CDLL | None:
    for name in LIBRARY_NAMES:
        path = name if name.endswith(".0") else ctypes.util.find_library(name)
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        p, c_int, size_t, c_float = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_float
        signatures = {
            "zinnia_recognizer_new": ([], p),
            "zinnia_recognizer_open": ([p, ctypes.c_char_p], c_int),
            "zinnia_recognizer_strerror": ([p], ctypes.c_char_p),
            "zinnia_recognizer_classify": ([p, p, size_t], p),
            "zinnia_recognizer_destroy": ([p], None),
            "zinnia_character_new": ([], p),
            "zinnia_character_clear": ([p], None),
            "zinnia_character_set_width": ([p, size_t], None),
            "zinnia_character_set_height": ([p, size_t], None),
            "zinnia_character_add": ([p, size_t, c_int, c_int], c_int),
            "zinnia_character_destroy": ([p], None),
            "zinnia_result_size": ([p], size_t),
            "zinnia_result_value": ([p, size_t], ctypes.c_char_p),
            "zinnia_result_score": ([p, size_t], c_float),
            "zinnia_result_destroy": ([p], None),
        }
        for fn, (args, res) in signatures.items():
            func = getattr(lib, fn)
            func.argtypes, func.restype = args, res
        return lib
    return None


class Recogniser:
    """One open Zinnia model; ``recognise`` is thread-safe (one call at a time)."""

    #: The box strokes are scaled into (Tegaki's models were trained at 1000).
    SIZE = 1000

    def __init__(self, lib: ctypes.CDLL, handle: int, model: Path) -> None:
        self._lib = lib
        self._handle: int | None = handle
        self.model = model
        self._lock = threading.Lock()

    @classmethod
    def open(cls, model: Path | None = None) -> Recogniser | None:
        """The recogniser, or None (logged) where Zinnia or its model is missing."""
        lib = _load_library()
        if lib is None:
            log.warning("handwriting off: libzinnia is not installed")
            return None
        path = model or next((p for p in MODEL_PATHS if p.is_file()), None)
        if path is None or not path.is_file():
            log.warning("handwriting off: no Zinnia model (tegaki-zinnia-simplified-chinese)")
            return None
        handle = lib.zinnia_recognizer_new()
        if not lib.zinnia_recognizer_open(handle, str(path).encode()):
            error = lib.zinnia_recognizer_strerror(handle)
            lib.zinnia_recognizer_destroy(handle)
            log.warning("handwriting off: %s", (error or b"").decode(errors="replace"))
            return None
        return cls(lib, handle, path)

    def recognise(self, strokes: Sequence[Stroke], box: float, best: int = 10) -> list[str]:
        """The ``best`` characters for ``strokes`` drawn in a ``box``-sized square."""
        strokes = [s for s in strokes if len(s) >= 1]
        if not strokes or self._handle is None:
            return []
        lib, scale = self._lib, self.SIZE / max(1.0, box)
        with self._lock:
            char = lib.zinnia_character_new()
            try:
                lib.zinnia_character_set_width(char, self.SIZE)
                lib.zinnia_character_set_height(char, self.SIZE)
                for i, stroke in enumerate(strokes):
                    for x, y in stroke:
                        lib.zinnia_character_add(char, i, int(x * scale), int(y * scale))
                result = lib.zinnia_recognizer_classify(self._handle, char, best)
                if not result:
                    return []
                try:
                    return [
                        lib.zinnia_result_value(result, i).decode("utf-8")
                        for i in range(lib.zinnia_result_size(result))
                    ]
                finally:
                    lib.zinnia_result_destroy(result)
            finally:
                lib.zinnia_character_destroy(char)

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._lib.zinnia_recognizer_destroy(self._handle)
                self._handle = None
