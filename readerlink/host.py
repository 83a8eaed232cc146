"""Host side of the reader link over pyserial (docs/protocol.md).

One I/O thread reads the port, runs the ARQ timers and delivers events; any number of
threads may call `request()` at once. After an unplug the I/O thread reopens the same
path (a `/dev/serial/by-id/...` link survives re-enumeration) and resynchronises, so
the process never has to restart.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import queue
import random
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from readerlink.adapt import Plan, plan
from readerlink.arq import ArqEndpoint, is_sequenced
from readerlink.codec import MAX_PAYLOAD, CorruptFrame, Frame, FrameDecoder, encode_frame
from readerlink.errors import (
    DeviceDisconnectedError,
    DeviceError,
    DeviceResetError,
    LinkClosedError,
    LinkError,
    LinkTimeoutError,
    PayloadError,
    ProtocolVersionError,
)
from readerlink.messages import (
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    REQUEST_TYPES,
    EnzymeSample,
    ErrorEvent,
    Heartbeat,
    HelloReply,
    MsgType,
    Reader,
    RunDone,
    Status,
    StripChunk,
    pack_request,
    unpack_reply,
)

log = logging.getLogger(__name__)

IO_POLL_S = 0.005  # read timeout of the I/O thread: the granularity of its timers
WRITE_TIMEOUT_S = 2.0  # a write blocked this long means the port is wedged
SYNC_RETRY_S = 0.15  # LINK_RESET is resent this often until acknowledged
# Heartbeats come every second; five missed means the device or the line is gone.
LIVENESS_S = 5.0
RECONNECT_INTERVAL_S = 0.2
EVENT_QUEUE_SIZE = 4096


class LinkState(enum.Enum):
    DISCONNECTED = "disconnected"
    SYNCING = "syncing"  # sending LINK_RESET until the device answers
    HANDSHAKE = "handshake"  # HELLO sent, waiting for the reply
    READY = "ready"
    FAILED = "failed"  # the device speaks another protocol version
    CLOSED = "closed"


@dataclass(frozen=True)
class LinkEvent:
    """Something the device streamed or the link went through.

    kind is one of: "sample", "strip_chunk", "run_done", "error" (device messages,
    `payload` is the raw bytes for end-to-end digests), "reset" (new boot id),
    "resync" (link state lost, runs in flight are gone), "disconnected", "ready".
    """

    kind: str
    message: Any = None
    payload: bytes = b""
    session: int = 0


class _Pending:
    __slots__ = ("body", "callback", "done", "error", "msg_type", "status")

    def __init__(self, msg_type: int, callback: Callable[[_Pending], None] | None = None) -> None:
        self.msg_type = msg_type
        self.done = threading.Event()
        self.status = -1
        self.body = b""
        self.error: LinkError | None = None
        self.callback = callback


def _copy_error(err: LinkError) -> LinkError:
    return type(err)(*err.args) if not isinstance(err, DeviceError) else err


class ReaderLink:
    """Reliable request/response and event stream to one reader over a serial port."""

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        request_timeout: float = 5.0,
        reconnect_interval: float = RECONNECT_INTERVAL_S,
        protocol_version: int = PROTOCOL_VERSION,
    ) -> None:
        """`protocol_version` is the newest this host offers (an older reader is met
        at its own version); 1 makes the host behave exactly as a version-1 host."""
        if not port:
            raise ValueError("a serial port path is required")
        if not MIN_PROTOCOL_VERSION <= protocol_version <= PROTOCOL_VERSION:
            raise ValueError(
                f"protocol version {protocol_version} outside "
                f"{MIN_PROTOCOL_VERSION}..{PROTOCOL_VERSION}"
            )
        self.port = port
        self.max_protocol = protocol_version
        self._hello_version = protocol_version
        self.baudrate = baudrate
        self.request_timeout = request_timeout
        self.reconnect_interval = reconnect_interval
        self.events: queue.Queue[LinkEvent] = queue.Queue(EVENT_QUEUE_SIZE)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._ser: serial.Serial | None = None
        self._decoder = FrameDecoder(coded=protocol_version >= 2)
        self._arq = ArqEndpoint(meter=self._decoder.meter, byte_time=10 / baudrate)
        self._state = LinkState.DISCONNECTED
        self._session = 0
        self._last_break: LinkError = DeviceDisconnectedError("not connected yet")
        self._failure: LinkError | None = None
        self._pending: dict[int, _Pending] = {}
        self._req_ids = itertools.cycle(range(1, 0x10000))
        self._nonce = 0
        self._next_sync = 0.0
        self._last_rx = 0.0
        self._boot_id: int | None = None
        self.hello: HelloReply | None = None
        self._subscribers: list[Callable[[LinkEvent], None]] = []
        self._backlog: list[LinkEvent] = []
        self._thread: threading.Thread | None = None
        self._next_reconnect = 0.0
        self.resyncs = 0
        self.resets_seen = 0

    # -- public API ---------------------------------------------------------
    def open(self, timeout: float = 10.0) -> HelloReply:
        """Open the port, synchronise and handshake; returns the device's HELLO_REPLY."""
        if self._thread is not None:
            raise LinkError("link already open")
        try:
            ser = self._open_serial()
        except (serial.SerialException, OSError) as exc:
            raise DeviceDisconnectedError(f"cannot open {self.port}: {exc}") from exc
        with self._lock:
            self._attach(ser)
        self._thread = threading.Thread(target=self._io_loop, name="reader-link", daemon=True)
        self._thread.start()
        try:
            return self.wait_ready(timeout)
        except LinkError:
            self.close()
            raise

    def close(self) -> None:
        """Stop the I/O thread and release the port; safe to call twice."""
        with self._cond:
            if self._state == LinkState.CLOSED:
                return
            self._break(LinkClosedError("link closed"), "disconnected", LinkState.CLOSED)
            ser, self._ser = self._ser, None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()

    def __enter__(self) -> ReaderLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def session(self) -> int:
        """Increments every time link state is lost (reset, resync, unplug)."""
        return self._session

    @property
    def boot_id(self) -> int | None:
        return self._boot_id

    @property
    def protocol_version(self) -> int | None:
        """The version negotiated in the handshake; None before the first one."""
        return self.hello.protocol_version if self.hello is not None else None

    def frame_plan(self, max_payload: int = MAX_PAYLOAD) -> Plan:
        """The payload size (and parity) that moves bulk data fastest on this line now.

        Bulk senders (firmware chunks) size their messages by it: with a version-2
        reader Reed–Solomon lets near-full frames through noise; a version-1 reader
        gets smaller frames as the measured error rate rises.
        """
        with self._lock:
            rate = self._arq.tx_error_rate
            coded = self._arq.version >= 2
        return plan(rate, coded, max_payload)

    def stats(self) -> dict[str, float]:
        """Counters for diagnostics and the benchmark."""
        with self._lock:
            rto = self._arq.rto
            return {
                "protocol_version": self._arq.version,
                "rx_byte_error_rate": self._decoder.meter.rate,
                "tx_byte_error_rate": self._arq.tx_error_rate,
                "corrected_bytes": self._decoder.corrected_bytes,
                "frames": self._decoder.frames,
                "crc_errors": self._decoder.crc_errors,
                "garbage_bytes": self._decoder.garbage_bytes,
                "retransmits": self._arq.retransmits,
                "timeouts": self._arq.timeouts,
                "rto_s": rto.rto,
                "srtt_s": rto.srtt or 0.0,
                "resyncs": self.resyncs,
                "resets_seen": self.resets_seen,
            }

    def wait_ready(self, timeout: float) -> HelloReply:
        """Block until the link is synchronised and the handshake is done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state != LinkState.READY:
                self._raise_if_unusable()
                left = deadline - time.monotonic()
                if left <= 0:
                    if self._state == LinkState.DISCONNECTED:
                        raise DeviceDisconnectedError(f"{self.port} is not connected")
                    raise LinkTimeoutError(f"no handshake with {self.port} within {timeout:.1f} s")
                self._cond.wait(left)
            assert self.hello is not None
            return self.hello

    def subscribe(self, callback: Callable[[LinkEvent], None]) -> Callable[[], None]:
        """Call `callback` (on the I/O thread; keep it quick) for every event."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def request(self, msg_type: MsgType, body: bytes = b"", timeout: float | None = None) -> bytes:
        """Send a request and wait for its reply; returns the reply body.

        Raises DeviceError when the device refuses, LinkTimeoutError when no reply comes,
        DeviceResetError or DeviceDisconnectedError when the device went away meanwhile.
        """
        if msg_type not in REQUEST_TYPES:
            raise ValueError(f"{msg_type!r} is not a request type")
        timeout = self.request_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pending = _Pending(msg_type)
        with self._cond:
            self._wait_ready_locked(deadline, msg_type)
            self._wait_outbox_locked(deadline, self._session)
            req_id = self._new_req_id()
            self._pending[req_id] = pending
            self._arq.enqueue(msg_type, pack_request(req_id, body))
            self._pump(time.monotonic())
        if not pending.done.wait(max(0.0, deadline - time.monotonic())):
            with self._lock:
                self._pending.pop(req_id, None)
            raise LinkTimeoutError(f"no reply to {MsgType(msg_type).name} within {timeout:.1f} s")
        if pending.error is not None:
            raise pending.error
        if pending.status != Status.OK:
            raise DeviceError(pending.status, _error_text(pending.status, pending.body))
        return pending.body

    def send(self, msg_type: MsgType, payload: bytes, session: int, timeout: float = 10.0) -> None:
        """Queue a one-way reliable message (firmware chunks) within link session `session`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._check_session(session)
            self._wait_outbox_locked(deadline, session)
            self._arq.enqueue(msg_type, payload)
            self._pump(time.monotonic())

    def wait_acked(self, session: int, timeout: float) -> None:
        """Block until everything sent in `session` has been acknowledged."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_session(session)
                if self._arq.pending == 0:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LinkTimeoutError("messages not acknowledged in time")
                self._cond.wait(min(left, 0.05))

    # -- helpers for callers holding the lock -------------------------------
    def _raise_if_unusable(self) -> None:
        if self._state == LinkState.CLOSED:
            raise LinkClosedError("link closed")
        if self._state == LinkState.FAILED and self._failure is not None:
            raise _copy_error(self._failure)

    def _check_session(self, session: int) -> None:
        self._raise_if_unusable()
        if session != self._session:
            raise _copy_error(self._last_break)

    def _wait_ready_locked(self, deadline: float, msg_type: int) -> None:
        while self._state != LinkState.READY:
            self._raise_if_unusable()
            left = deadline - time.monotonic()
            if left <= 0:
                if self._state == LinkState.DISCONNECTED:
                    raise DeviceDisconnectedError(
                        f"{self.port} not connected; {MsgType(msg_type).name} not sent"
                    )
                raise LinkTimeoutError(f"link not ready; {MsgType(msg_type).name} not sent")
            self._cond.wait(left)

    def _wait_outbox_locked(self, deadline: float, session: int) -> None:
        while self._arq.outbox_full:
            self._check_session(session)
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeoutError("send window stayed full")
            self._cond.wait(min(left, 0.05))
        self._check_session(session)

    def _new_req_id(self) -> int:
        while True:
            req_id = next(self._req_ids)
            if req_id not in self._pending:
                return req_id

    def _write(self, frames: list[bytes]) -> None:
        if not frames or self._ser is None:
            return
        try:
            self._ser.write(b"".join(frames))
        except (serial.SerialException, OSError) as exc:
            self._on_disconnect(exc)

    def _pump(self, now: float) -> None:
        if self._state in (LinkState.HANDSHAKE, LinkState.READY):
            self._write(self._arq.poll(now))

    def _emit(self, event: LinkEvent) -> None:
        self._backlog.append(event)

    def _break(self, error: LinkError, kind: str, new_state: LinkState) -> None:
        """Link state is lost: fail everything in flight with `error`, start over."""
        self._session += 1
        self._last_break = error
        for pending in self._pending.values():
            pending.error = _copy_error(error)
            pending.done.set()
        self._pending.clear()
        self._arq.reset()
        self._state = new_state
        self._next_sync = 0.0
        if new_state == LinkState.SYNCING:
            self.resyncs += 1
        self._emit(LinkEvent(kind, error, session=self._session))
        self._cond.notify_all()
        log.info("link %s: %s (%s)", kind, error, new_state.value)

    def _attach(self, ser: serial.Serial) -> None:
        self._ser = ser
        self._decoder.reset()
        self._arq.reset()
        self._state = LinkState.SYNCING
        self._next_sync = 0.0
        self._last_rx = time.monotonic()
        self._cond.notify_all()

    def _open_serial(self) -> serial.Serial:
        ser = serial.Serial(
            port=self.port,
            baudrate=self.baudrate,
            timeout=IO_POLL_S,
            write_timeout=WRITE_TIMEOUT_S,
            exclusive=True,
        )
        ser.reset_input_buffer()
        return ser

    def _on_disconnect(self, exc: BaseException) -> None:
        with self._lock:
            if self._ser is None or self._state == LinkState.CLOSED:
                return
            ser, self._ser = self._ser, None
            with contextlib.suppress(Exception):
                ser.close()
            self._next_reconnect = time.monotonic() + self.reconnect_interval
            self._break(
                DeviceDisconnectedError(f"{self.port} went away: {exc}"),
                "disconnected",
                LinkState.DISCONNECTED,
            )

    # -- the I/O thread -----------------------------------------------------
    def _io_loop(self) -> None:
        while self._state != LinkState.CLOSED:
            ser = self._ser
            if ser is None:
                self._try_reconnect()
            else:
                try:
                    data = ser.read(ser.in_waiting or 1)
                except (serial.SerialException, OSError, TypeError) as exc:
                    self._on_disconnect(exc)
                    data = b""
                now = time.monotonic()
                with self._lock:
                    if data and self._state != LinkState.CLOSED:
                        self._last_rx = now
                        for item in self._decoder.feed(data):
                            self._on_item(item, now)
                    self._service(now)
            self._deliver()

    def _try_reconnect(self) -> None:
        if time.monotonic() < self._next_reconnect:
            time.sleep(0.02)
            return
        self._next_reconnect = time.monotonic() + self.reconnect_interval
        try:
            ser = self._open_serial()
        except (serial.SerialException, OSError) as exc:
            log.debug("reopen %s failed: %s", self.port, exc)
            return
        with self._lock:
            if self._state == LinkState.CLOSED:
                ser.close()
                return
            log.info("reopened %s", self.port)
            self._attach(ser)

    def _deliver(self) -> None:
        with self._lock:
            backlog, self._backlog = self._backlog, []
            subscribers = list(self._subscribers)
        for event in backlog:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    log.exception("event subscriber failed")
            if self.events.full():
                with contextlib.suppress(queue.Empty):
                    self.events.get_nowait()
            with contextlib.suppress(queue.Full):
                self.events.put_nowait(event)

    def _service(self, now: float) -> None:
        state = self._state
        if state == LinkState.SYNCING and now >= self._next_sync:
            self._nonce = random.getrandbits(32)
            self._next_sync = now + SYNC_RETRY_S
            self._write([encode_frame(MsgType.LINK_RESET, 0, struct.pack("<I", self._nonce))])
        elif state in (LinkState.HANDSHAKE, LinkState.READY):
            self._pump(now)
            if self._arq.dead:
                self._break(
                    LinkTimeoutError("device stopped acknowledging frames"),
                    "resync",
                    LinkState.SYNCING,
                )
            elif now - self._last_rx > LIVENESS_S:
                self._break(
                    LinkTimeoutError(f"device silent for {LIVENESS_S:.0f} s"),
                    "resync",
                    LinkState.SYNCING,
                )

    def _on_item(self, item: Frame | CorruptFrame, now: float) -> None:
        if isinstance(item, CorruptFrame):
            if self._state in (LinkState.HANDSHAKE, LinkState.READY):
                self._write(self._arq.on_corrupt(item))
            return
        t = item.msg_type
        try:
            if t == MsgType.LINK_RESET_ACK:
                self._on_link_reset_ack(item.payload)
            elif t == MsgType.BOOT:
                (boot_id,) = Reader(item.payload).take("I")
                self._on_boot_notice(boot_id)
            elif t == MsgType.HEARTBEAT:
                hb = Heartbeat.unpack(item.payload)
                if self._state in (LinkState.HANDSHAKE, LinkState.READY):
                    self._check_boot(hb.boot_id)
            elif self._state not in (LinkState.HANDSHAKE, LinkState.READY):
                return
            elif t == MsgType.ACK:
                self._arq.on_ack(item.seq, now)
                self._cond.notify_all()
            elif t == MsgType.NAK:
                self._write(self._arq.on_nak(item.seq, now))
                self._cond.notify_all()
            elif t == MsgType.SACK:
                self._write(self._arq.on_sack(item.seq, item.payload, now))
                self._cond.notify_all()
            elif is_sequenced(t):
                delivered, replies = self._arq.on_data(item)
                self._write(replies)
                for frame in delivered:
                    self._on_message(frame)
        except PayloadError as exc:
            log.warning("malformed %#04x payload: %s", t, exc)

    def _on_link_reset_ack(self, payload: bytes) -> None:
        nonce, boot_id = Reader(payload).take("II")
        if self._state != LinkState.SYNCING or nonce != self._nonce:
            return
        if self._boot_id is not None and boot_id != self._boot_id:
            self.resets_seen += 1
            err = DeviceResetError(
                f"device rebooted (boot id {self._boot_id:08x} -> {boot_id:08x})"
            )
            self._emit(LinkEvent("reset", err, session=self._session))
        self._boot_id = boot_id
        self._arq.reset()
        self._state = LinkState.HANDSHAKE
        self._send_hello(self.max_protocol)

    def _send_hello(self, version: int) -> None:
        self._hello_version = version
        self._pending[0] = _Pending(MsgType.HELLO, self._on_hello)
        self._arq.enqueue(MsgType.HELLO, pack_request(0, bytes((version,))))
        self._pump(time.monotonic())

    def _on_hello(self, pending: _Pending) -> None:
        if pending.error is not None:
            return
        if pending.status == Status.VERSION_MISMATCH and self._hello_version > MIN_PROTOCOL_VERSION:
            # A reader from before version 2 refuses anything but 1: meet it there.
            log.info("reader refused protocol %d; offering 1", self._hello_version)
            self._send_hello(MIN_PROTOCOL_VERSION)
            return
        if pending.status != Status.OK:
            err = ProtocolVersionError(
                f"device refused handshake: {_error_text(pending.status, pending.body)}"
            )
            self._failure = err
            self._break(err, "resync", LinkState.FAILED)
            return
        hello = HelloReply.unpack(pending.body)
        if hello.protocol_version != self._hello_version:
            err = ProtocolVersionError(
                f"device speaks protocol {hello.protocol_version}, host {self._hello_version}"
            )
            self._failure = err
            self._break(err, "resync", LinkState.FAILED)
            return
        self.hello = hello
        self._arq.set_version(hello.protocol_version)
        self._state = LinkState.READY
        self._emit(LinkEvent("ready", hello, session=self._session))
        self._cond.notify_all()
        log.info("reader %s ready: fw %s", hello.serial_number, hello.firmware_version)

    def _check_boot(self, boot_id: int) -> None:
        if self._boot_id is not None and boot_id != self._boot_id:
            self._on_device_reset(boot_id)

    def _on_boot_notice(self, boot_id: int) -> None:
        if self._state in (LinkState.HANDSHAKE, LinkState.READY):
            if self._boot_id is not None and boot_id != self._boot_id:
                self._on_device_reset(boot_id)
            else:
                self._break(LinkError("device lost link sync"), "resync", LinkState.SYNCING)

    def _on_device_reset(self, boot_id: int) -> None:
        self.resets_seen += 1
        self._break(
            DeviceResetError(f"device rebooted (boot id {self._boot_id:08x} -> {boot_id:08x})"),
            "reset",
            LinkState.SYNCING,
        )
        self._boot_id = boot_id

    def _on_message(self, frame: Frame) -> None:
        t = frame.msg_type
        if (t - 1) in REQUEST_TYPES:
            req_id, status, body = unpack_reply(frame.payload)
            pending = self._pending.pop(req_id, None)
            if pending is None or pending.msg_type != t - 1:
                log.debug("late or unknown reply %#04x id %d", t, req_id)
                return
            pending.status, pending.body = status, body
            if pending.callback is not None:
                pending.callback(pending)
            pending.done.set()
            return
        parsers: dict[int, tuple[str, Callable[[bytes], Any]]] = {
            MsgType.ENZYME_SAMPLE: ("sample", EnzymeSample.unpack),
            MsgType.STRIP_CHUNK: ("strip_chunk", StripChunk.unpack),
            MsgType.RUN_DONE: ("run_done", RunDone.unpack),
            MsgType.ERROR_EVENT: ("error", ErrorEvent.unpack),
        }
        if t in parsers:
            kind, parse = parsers[t]
            self._emit(LinkEvent(kind, parse(frame.payload), frame.payload, self._session))
        else:
            log.debug("ignoring message type %#04x", t)


def _error_text(status: int, body: bytes) -> str:
    """The device's reason, falling back to the status name."""
    try:
        text = Reader(body).string() if body else ""
    except PayloadError:
        text = ""
    try:
        name = Status(status).name
    except ValueError:
        name = f"status {status}"
    return f"{name}: {text}" if text and text != name else name
