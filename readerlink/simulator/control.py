"""The simulator's bench controls: a Unix-domain socket beside its pty, never the link.

A real reader has no way to be told "your lamp sees a sample with this much
inhibitor" or "drop bytes now", so none of that may travel over the reader link:
the host's protocol stays exactly what the real part speaks. The test jig (the
simulated reader class on the host, a benchmark, a person with ``socat``) connects
here instead and sends one JSON object per line; each gets one JSON line back::

    {"op": "load_enzyme_sample", "channel": 1, "inhibitor": 2.0}   ->  {"ok": true}
    {"op": "load_strip", "ratio": -1}                              ->  {"ok": false,
                                                                        "error": "..."}

``OPS`` lists every operation with its arguments (all numbers; the ones with a
default may be left out). docs/protocol.md, "The simulator", documents them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: op -> {argument: default, or None when required}.
OPS: dict[str, dict[str, float | None]] = {
    "set_bit_error_rate": {"rate": None},
    "set_drop_rate": {"rate": None},
    "stall": {"seconds": None},
    "reset_after": {"seconds": None},
    "reset_mid_run": {"fraction": 0.5},
    "unplug": {"seconds": None},
    "cut_update_at": {"fraction": None},
    "load_enzyme_sample": {"channel": None, "inhibitor": None, "pigment": 0.0},
    "load_strip": {"ratio": None, "c_line": 1.0},
    "set_ambient": {"celsius": None},
}
#: A request line longer than this is not a control request.
MAX_LINE = 4096


class ControlError(ValueError):
    """A control request the simulator refuses; the message goes back to the caller."""


def parse_request(line: bytes) -> tuple[str, dict[str, float]]:
    """One request line -> (op, arguments with defaults filled in); ControlError if bad."""
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(f"not a JSON line: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        raise ControlError('a request is a JSON object with "op"')
    op = request.pop("op")
    spec = OPS.get(op)
    if spec is None:
        raise ControlError(f"unknown op {op!r}; known: {', '.join(sorted(OPS))}")
    unknown = set(request) - set(spec)
    if unknown:
        raise ControlError(f"{op} takes {', '.join(spec)}, not {', '.join(sorted(unknown))}")
    args: dict[str, float] = {}
    for name, default in spec.items():
        value = request.get(name, default)
        if value is None:
            raise ControlError(f"{op} needs {name}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ControlError(f"{op}: {name} must be a number, not {value!r}")
        args[name] = float(value)
    return op, args


class ControlServer:
    """Accepts jig connections on ``path``; ``apply(op, args)`` runs each request.

    ``apply`` raises ControlError (or ValueError) to refuse; anything it returns is
    ignored. Each connection is served on its own thread, requests in order.
    """

    def __init__(self, path: Path, apply: Callable[[str, dict[str, float]], None]) -> None:
        self.path = Path(path)
        self._apply = apply
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of a simulator that was killed
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(os.fspath(self.path))
        self._listener.listen()
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="sim-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=1)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                if self._stop.is_set():
                    return
                reply = self._handle(line[:MAX_LINE])
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    return

    def _handle(self, line: bytes) -> dict[str, Any]:
        try:
            op, args = parse_request(line)
            self._apply(op, args)
        except ValueError as exc:
            log.info("control request refused: %s", exc)
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a simulator bug must reach the jig, not kill the thread
            log.exception("control request failed")
            return {"ok": False, "error": f"simulator fault: {exc}"}
        log.info("control %s %s", op, args)
        return {"ok": True}
