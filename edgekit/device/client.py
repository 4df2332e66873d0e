"""Host-side device client: HELLO and chunked INFER over any :class:`Link`, with timeouts,
retransmission, resynchronisation and recovery from a device reset. It never returns a result
that is not CRC-checked, of the right size, and computed on exactly the input that was sent
(the device echoes the CRC-32 of the input it ran on)."""

from __future__ import annotations

import time
import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from edgekit.device import protocol as P
from edgekit.device.serial_link import Link
from edgekit.errors import DataError, DeviceError


@dataclass(frozen=True)
class InferResult:
    output: np.ndarray
    ticks: int
    layer_ticks: tuple[int, ...] | None
    unit: str  # "instructions" (emulator) or "cycles" (board)


class _NoReply(Exception):
    pass


class _DeviceRestarted(Exception):
    pass


class _Retry(Exception):
    """The transaction must restart (device lost its state or answered out of turn)."""


def _preview(data: bytes, limit: int = 48) -> str:
    if not data:
        return "nothing"
    shown = data[-limit:].hex(" ")
    more = f"... ({len(data)} bytes in all) " if len(data) > limit else ""
    return f"{more}{shown}"


class DeviceClient:
    """Talk to a device running the edgekit harness.

    `timeout`: seconds to wait for each reply (ACK, HELLO); `infer_timeout`: for a RESULT
    (covers the inference itself); `retries`: recoveries (retransmissions and restarts) allowed
    per call before a :class:`DeviceError`.
    """

    def __init__(
        self,
        link: Link,
        timeout: float = 2.0,
        infer_timeout: float = 30.0,
        retries: int = 4,
        chunk_bytes: int | None = None,
    ) -> None:
        self.link = link
        self.timeout = timeout
        self.infer_timeout = infer_timeout
        self.retries = retries
        self.chunk_bytes = chunk_bytes
        self.info: P.DeviceInfo | None = None
        self.decoder = P.Decoder()
        self._seq = 0
        self._xfer = 0
        self._rx_log = bytearray()
        self._pending: deque[P.Frame] = deque()
        self.recoveries = 0  # statistics: retransmissions + restarts so far

    # ---- low level ---------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; 0 marks the device's unsolicited boot HELLO
        return self._seq

    def _send(self, msg: int, payload: bytes = b"") -> int:
        seq = self._next_seq()
        self.link.write(P.encode(msg, seq, payload))
        return seq

    def _wait(self, seq: int, accept: set[int], timeout: float, boot_ok: bool = False) -> P.Frame:
        """The reply with sequence number `seq` whose type is in `accept` (or an ERROR).
        A boot HELLO (the device restarted) raises _DeviceRestarted unless `boot_ok`."""
        deadline = time.monotonic() + timeout
        self._rx_log.clear()
        while True:
            while self._pending:
                frame = self._pending.popleft()
                if frame.type == P.Msg.HELLO and frame.seq == 0 and not boot_ok:
                    try:
                        boot = P.parse_hello(frame.payload).boot
                    except ValueError:
                        boot = False
                    if boot:
                        raise _DeviceRestarted()
                if frame.seq != seq:
                    continue  # stale reply to an earlier (retransmitted) request
                if frame.type in accept or frame.type == P.Msg.ERROR:
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise _NoReply()
            data = self.link.read(min(left, 0.2))
            if not data and self.decoder.pending():
                self._pending.extend(self.decoder.resync())  # a quiet link mid-frame: resync
            if data:
                self._rx_log += data
                del self._rx_log[:-4096]
                self._pending.extend(self.decoder.feed(data))

    def _fail(self, what: str, timeout: float) -> DeviceError:
        return DeviceError(
            f"device on {self.link.name} did not answer {what} within {timeout:.1f} s "
            f"({self.retries} retries); it sent back: {_preview(bytes(self._rx_log))}. "
            "Check that the board is flashed with edgekit firmware (`edgekit deploy`), the port and "
            "the baud rate; press the board's reset button and retry."
        )

    # ---- API ---------------------------------------------------------------------------------
    def hello(self) -> P.DeviceInfo:
        """Ask the device who it is (board, model, shapes, quantization, arena, clock)."""
        for _attempt in range(self.retries + 1):
            seq = self._send(P.Msg.HELLO_REQ)
            try:
                frame = self._wait(seq, {P.Msg.HELLO}, self.timeout, boot_ok=True)
            except (_NoReply, _DeviceRestarted):
                self.recoveries += 1
                self.flush_device()
                continue
            if frame.type == P.Msg.ERROR:
                raise DeviceError(
                    f"device on {self.link.name} refused HELLO: {P.parse_error(frame.payload).describe()}"
                )
            try:
                info = P.parse_hello(frame.payload)
            except ValueError as err:
                raise DeviceError(f"device on {self.link.name} sent a malformed HELLO: {err}") from err
            if info.proto_version != P.PROTO_VERSION:
                raise DeviceError(
                    f"device on {self.link.name} speaks protocol v{info.proto_version}, this edgekit "
                    f"speaks v{P.PROTO_VERSION}: rebuild and flash the firmware with this edgekit"
                )
            self.info = info
            # the longest frame this device can send us: RESULT with per-layer ticks, or LAYERS
            self.decoder.max_payload = max(4096, 20 + info.output.bytes + 4 * info.num_layers)
            return info
        raise self._fail("HELLO (sent HELLO_REQ)", self.timeout)

    def layer_names(self) -> tuple[str, ...]:
        for _attempt in range(self.retries + 1):
            seq = self._send(P.Msg.LAYERS_REQ)
            try:
                frame = self._wait(seq, {P.Msg.LAYERS}, self.timeout)
            except (_NoReply, _DeviceRestarted):
                continue
            if frame.type == P.Msg.ERROR:
                raise DeviceError(f"device refused LAYERS: {P.parse_error(frame.payload).describe()}")
            return P.parse_layers(frame.payload)
        raise self._fail("LAYERS_REQ", self.timeout)

    def flush_device(self) -> None:
        """Complete any partial frame the device may be waiting on (after a truncated frame or
        garbage that looked like a header) with filler that holds no sync byte; the device's
        parser then fails its CRC and is empty again."""
        max_rx = self.info.max_rx_payload if self.info else P.DEVICE_MAX_RX_PAYLOAD
        self.link.write(bytes(max_rx + P.OVERHEAD))

    def reset(self) -> None:
        """Ask the device to reset itself (it answers ACK, then reboots and says HELLO)."""
        self._send(P.Msg.RESET)

    def exit_emulator(self, code: int = 0) -> None:
        """Ask an emulated device to end QEMU with exit status `code`."""
        self._send(P.Msg.EXIT, bytes([code & 0xFF]))

    def _input_bytes(self, x: np.ndarray) -> bytes:
        assert self.info is not None
        spec = self.info.input
        arr = np.asarray(x)
        if arr.dtype != spec.numpy_dtype:
            raise DataError(
                f"input dtype {arr.dtype} does not match the device model's input {spec.dtype}; "
                "quantize the input first"
            )
        raw = np.ascontiguousarray(arr).astype(spec.numpy_dtype.newbyteorder("<"), copy=False).tobytes()
        if len(raw) != spec.bytes:
            raise DataError(
                f"input has {arr.size} elements ({len(raw)} bytes, shape {arr.shape}); the model on the "
                f"device takes shape {spec.shape} ({spec.bytes} bytes)"
            )
        return raw

    def infer(self, x: np.ndarray, per_layer: bool = False) -> InferResult:
        """Run one inference on the device. Raises DeviceError when it cannot get a verified
        result within the retry budget."""
        if self.info is None:
            self.hello()
        assert self.info is not None
        raw = self._input_bytes(x)
        budget = [self.retries]
        while True:
            try:
                return self._transaction(raw, per_layer, budget)
            except (_Retry, _DeviceRestarted):
                self.recoveries += 1
                if budget[0] <= 0:
                    raise DeviceError(
                        f"device on {self.link.name} kept losing the inference transfer "
                        f"({self.retries} restarts); last bytes it sent: {_preview(bytes(self._rx_log))}"
                    ) from None
                budget[0] -= 1
                self.decoder.clear()
                self._pending.clear()

    def _transaction(self, raw: bytes, per_layer: bool, budget: list[int]) -> InferResult:
        assert self.info is not None
        self._xfer = (self._xfer + 1) & 0xFFFF
        xfer = self._xfer
        chunk = max(1, self.info.max_rx_payload - P.DATA_HEADER)
        if self.chunk_bytes:
            chunk = min(chunk, self.chunk_bytes)

        def exchange(msg: int, payload: bytes, accept: set[int], timeout: float, what: str) -> P.Frame:
            while True:
                seq = self._send(msg, payload)
                try:
                    return self._wait(seq, accept, timeout)
                except _NoReply:
                    self.recoveries += 1
                    if budget[0] <= 0:
                        raise self._fail(what, timeout) from None
                    budget[0] -= 1

        frame = exchange(
            P.Msg.INFER_BEGIN,
            P.pack_begin(xfer, len(raw), per_layer),
            {P.Msg.ACK},
            self.timeout,
            f"INFER_BEGIN ({len(raw)} input bytes)",
        )
        self._check_ack(frame, xfer, 0)
        offset = 0
        while offset < len(raw):
            part = raw[offset : offset + chunk]
            last = offset + len(part) == len(raw)
            frame = exchange(
                P.Msg.INFER_DATA,
                P.pack_data(xfer, offset, part),
                {P.Msg.RESULT} if last else {P.Msg.ACK},
                self.infer_timeout if last else self.timeout,
                f"INFER_DATA (bytes {offset}..{offset + len(part)} of {len(raw)})",
            )
            if last:
                return self._check_result(frame, xfer, raw, per_layer)
            self._check_ack(frame, xfer, offset + len(part))
            offset += len(part)
        raise AssertionError("unreachable")

    def _check_ack(self, frame: P.Frame, xfer: int, expect: int) -> None:
        if frame.type == P.Msg.ERROR:
            err = P.parse_error(frame.payload)
            if err.code in (P.ErrCode.BAD_STATE, P.ErrCode.BAD_OFFSET):
                raise _Retry()
            raise DeviceError(f"device on {self.link.name} rejected the input: {err.describe()}")
        try:
            ack = P.parse_ack(frame.payload)
        except ValueError:
            raise _Retry() from None
        if ack.xfer != xfer or ack.next_offset != expect:
            raise _Retry()

    def _check_result(self, frame: P.Frame, xfer: int, raw: bytes, per_layer: bool) -> InferResult:
        assert self.info is not None
        if frame.type == P.Msg.ERROR:
            err = P.parse_error(frame.payload)
            if err.code in (P.ErrCode.BAD_STATE, P.ErrCode.BAD_OFFSET):
                raise _Retry()
            raise DeviceError(f"device on {self.link.name} failed the inference: {err.describe()}")
        try:
            res = P.parse_result(frame.payload)
        except ValueError:
            raise _Retry() from None
        if res.xfer != xfer or res.input_crc != zlib.crc32(raw):
            raise _Retry()  # a result for other input: never report it
        if res.status != 0:
            raise DeviceError(
                f"model on {self.link.name} returned status {res.status} (non-zero means the generated "
                "library refused the input)"
            )
        spec = self.info.output
        if len(res.output) != spec.bytes:
            raise DeviceError(
                f"device on {self.link.name} returned {len(res.output)} output bytes, model declares {spec.bytes}"
            )
        if per_layer and len(res.layer_ticks) != self.info.num_layers:
            raise DeviceError(
                f"device returned {len(res.layer_ticks)} layer tick counts for {self.info.num_layers} layers"
            )
        out = np.frombuffer(res.output, dtype=spec.numpy_dtype.newbyteorder("<")).astype(spec.numpy_dtype)
        return InferResult(
            output=out.reshape(spec.shape),
            ticks=res.ticks,
            layer_ticks=res.layer_ticks if per_layer else None,
            unit=self.info.tick_unit,
        )
