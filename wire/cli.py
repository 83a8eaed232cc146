"""The error boundary of the ``kiosk`` and ``station`` command lines.

A technician at a service point reads one line that names the option, file or key
that is wrong, and gets the documented exit code; the traceback, when there is one,
goes to the journal (or a private file where there is no journal) for whoever
debugs it later. Both command lines build their parsers from ``CliParser`` and run
their body through ``run_cli``, so a command added later inherits all of this.

Exit codes shared by both: 0 done; 1 refused, invalid or failed (the line says why);
2 bad usage or configuration (the option, file or key is named); 130 interrupted;
141 the reader of standard output went away (``| head``), quietly, as a Unix tool
killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import struct
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")

#: (exception types, exit code, prefix of the one line printed, or a function that
#: writes the whole line from the exception)
ErrorMap = Sequence[
    tuple[
        type[BaseException] | tuple[type[BaseException], ...],
        int,
        str | Callable[[BaseException], str],
    ]
]

log = logging.getLogger(__name__)


class CliError(Exception):
    """A refusal the command line prints as one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class CliParser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the argument (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def one_line(value: object) -> str:
    """An exception's text on one line (pydantic and others write several)."""
    return "; ".join(part.strip() for part in str(value).splitlines() if part.strip())


def share_options(parser: argparse.ArgumentParser, dests: Sequence[str]) -> None:
    """Accept the top-level options ``dests`` after the subcommand too.

    ``kiosk certificates --config F`` and ``kiosk --config F certificates`` mean the
    same; the copies default to SUPPRESS so a later level never resets an earlier one.
    """
    shared = [a for a in parser._actions if a.dest in dests and a.option_strings]
    for sub in _subparsers(parser):
        for action in shared:
            kwargs: dict[str, object] = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, argparse._StoreTrueAction):
                kwargs["action"] = "store_true"
            else:
                kwargs["type"] = action.type
                kwargs["metavar"] = action.metavar
            sub.add_argument(*action.option_strings, help=action.help, **kwargs)  # type: ignore[arg-type]  # argparse's kwargs are loosely typed


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map twice
                found.append(child)
                found.extend(_subparsers(child))
    return found


# ---- argument types: a wrong value is a usage error naming the option -------------------


def day(text: str) -> date:
    """``YYYY-MM-DD``; anything else (2026/12/01, 20261201, 2026-13-01) is refused."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date as YYYY-MM-DD (for example 2026-12-01)"
        ) from None


def day_start(text: str | date | None, tz: tzinfo) -> datetime | None:
    """Midnight at the start of a day in ``tz``."""
    if text is None:
        return None
    value = day(text) if isinstance(text, str) else text
    return datetime(value.year, value.month, value.day, tzinfo=tz)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: at least 1")
    return value


def output_file(text: str) -> Path:
    """A file to write: its folder must exist (refused before any work is done)."""
    path = Path(text)
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: folder {folder} does not exist")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    return path


def input_file(text: str) -> Path:
    """A file to read: it must exist."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path


# ---- logging -------------------------------------------------------------------------

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JournalHandler(logging.Handler):
    """Log records straight into the systemd journal, tagged with the program's name."""

    def __init__(self, identifier: str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.identifier = identifier

    def emit(self, record: logging.LogRecord) -> None:
        try:
            priority = 3 if record.levelno >= logging.ERROR else 4 if record.levelno >= 30 else 6
            _journal_send(self.identifier, self.format(record), priority)
        except Exception:  # a log line must never become the command's failure
            self.handleError(record)


def configure_logging(
    prog: str, *, verbose: bool = False, service: bool = False, level: int = logging.INFO
) -> None:
    """Where log records go: a long-running service (``kiosk agent``, ``station collect``)
    logs to stderr, which systemd keeps in the journal; a one-shot command keeps stderr
    for its one line and sends warnings to the journal instead; ``-v`` shows everything.
    """
    root = logging.getLogger()
    if root.handlers:  # configured already (a test harness, an embedding program)
        return
    if verbose or service:
        level = logging.DEBUG if verbose else level
        logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
        return
    root.setLevel(logging.WARNING)
    if JOURNAL_SOCKET.exists():
        journal = JournalHandler(prog)
        journal.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(journal)
    else:  # a development machine: stderr is the command's own, keep it quiet
        root.addHandler(logging.NullHandler())


# ---- the boundary ---------------------------------------------------------------------


def run_cli(
    prog: str,
    body: Callable[[], int],
    errors: ErrorMap = (),
    *,
    verbose: bool = False,
) -> int:
    """Run ``body``; every failure becomes one line on stderr and an exit code.

    ``errors`` maps domain exceptions to codes; an ``OSError`` names its file; anything
    else is an internal error whose traceback goes to the journal, and the line says
    where. ``verbose`` also prints the traceback on stderr.
    """
    try:
        code = body()
        sys.stdout.flush()  # a closed pipe surfaces here, not in the interpreter's exit
        return code
    except CliError as error:
        _say(prog, error.message)
        return error.code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _say(prog, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # the boundary: nothing below it prints a traceback
        if verbose:
            traceback.print_exc()
        for types, code, prefix in errors:
            if isinstance(error, types):
                log.debug("%s refused", prog, exc_info=True)
                _say(prog, prefix(error) if callable(prefix) else f"{prefix}{one_line(error)}")
                return code
        if isinstance(error, OSError) and error.filename is not None:
            log.debug("%s: file error", prog, exc_info=True)
            _say(prog, f"{error.filename}: {error.strerror or one_line(error)}")
            return EXIT_REFUSED
        where = record_traceback(prog, error)
        _say(prog, f"internal error: {type(error).__name__}: {one_line(error)} ({where})")
        return EXIT_REFUSED


def _say(prog: str, message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"{prog}: {one_line(message)}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def record_traceback(prog: str, error: BaseException) -> str:
    """Keep the traceback for the technician; returns where to find it."""
    text = "".join(traceback.format_exception(error))
    if _journal_send(prog, f"{prog}: unexpected error\n{text}"):
        return f"traceback in the journal: journalctl -t {prog}"
    path = error_log_path(prog)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Private: a traceback may hold a farmer's name or phone number.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"--- {datetime.now().isoformat(timespec='seconds')}\n{text}")
    except OSError:
        return "run again with -v for the traceback"
    return f"traceback in {path}"


def error_log_path(prog: str) -> Path:
    """Where tracebacks go on a machine without a journal (a development checkout)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "agriqs" / f"{prog}-errors.log"


def _journal_send(identifier: str, message: str, priority: int = 3) -> bool:
    """systemd's native journal protocol (a multi-line field is length-prefixed)."""
    if not JOURNAL_SOCKET.exists():
        return False
    payload = f"PRIORITY={priority}\nSYSLOG_IDENTIFIER={identifier}\n".encode()
    body = message.encode("utf-8", "replace")
    payload += b"MESSAGE\n" + struct.pack("<Q", len(body)) + body + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, str(JOURNAL_SOCKET))
    except OSError:
        return False
    return True
