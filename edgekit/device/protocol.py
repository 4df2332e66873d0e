"""edgekit wire protocol, host side: frame encoding, a resynchronising decoder, and the
message payloads (see docs/protocol.md; the device side is firmware/harness/ek_proto.c).

Frame (little endian)::

    0xEB 0x4B | type u8 | seq u8 | len u16 | hcrc u8 | payload[len] | crc32 u32

``hcrc`` is CRC-8 (poly 0x07) of type..len, ``crc32`` is zlib's CRC-32 of type..payload.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

PROTO_VERSION = 1
SYNC = b"\xeb\x4b"
HDR_BYTES = 7
CRC_BYTES = 4
OVERHEAD = HDR_BYTES + CRC_BYTES
MAX_PAYLOAD = 0xFFFF
DEVICE_MAX_RX_PAYLOAD = 256  # default of EK_PROTO_MAX_RX_PAYLOAD; HELLO reports the real one
DATA_HEADER = 8  # xfer u16, reserved u16, offset u32
MAX_RANK = 6


class Msg(IntEnum):
    HELLO_REQ = 0x01
    INFER_BEGIN = 0x02
    INFER_DATA = 0x03
    RESET = 0x04
    EXIT = 0x05
    LAYERS_REQ = 0x06
    HELLO = 0x81
    ACK = 0x82
    RESULT = 0x83
    LAYERS = 0x84
    ERROR = 0x8F


class ErrCode(IntEnum):
    UNKNOWN_TYPE = 1
    BAD_PAYLOAD = 2
    BAD_SIZE = 3
    BAD_STATE = 4
    BAD_OFFSET = 5
    MODEL_FAILED = 6
    UNSUPPORTED = 7


class TickUnit(IntEnum):
    CYCLES = 0
    INSTRUCTIONS = 1


DTYPES: dict[int, str] = {0: "int8", 1: "uint8", 2: "int16", 3: "int32", 4: "float32"}
DTYPE_CODES = {v: k for k, v in DTYPES.items()}
FLAG_PER_LAYER = 0x01
HELLO_EMULATED = 0x01
HELLO_BOOT = 0x02


def crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    def __repr__(self) -> str:
        try:
            name = Msg(self.type).name
        except ValueError:
            name = f"0x{self.type:02X}"
        return f"Frame({name}, seq={self.seq}, {len(self.payload)} B)"


def encode(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """One complete frame."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = struct.pack("<BBH", msg_type, seq & 0xFF, len(payload))
    body = head + payload
    return SYNC + head + bytes([crc8(head)]) + payload + struct.pack("<I", zlib.crc32(body))


class Decoder:
    """Byte-stream to frames. Garbage, corrupted headers and CRC failures are skipped one byte at
    a time, so a valid frame following (or hidden inside) garbage is always found."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.buf = bytearray()
        self.max_payload = max_payload
        self.dropped = 0
        self.crc_errors = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def resync(self) -> list[Frame]:
        """Give up on a stalled partial frame (its header was probably garbage that passed the
        header check): skip one byte and parse what is left."""
        if not self.buf:
            return []
        self._drop(1)
        return self.feed(b"")

    def pending(self) -> int:
        return len(self.buf)

    def clear(self) -> None:
        self.dropped += len(self.buf)
        self.buf.clear()

    def _drop(self, n: int) -> None:
        self.dropped += n
        del self.buf[:n]

    def _next(self) -> Frame | None:
        buf = self.buf
        while True:
            i = buf.find(SYNC)
            if i < 0:
                # keep a trailing first sync byte
                keep = 1 if buf[-1:] == SYNC[:1] else 0
                self._drop(len(buf) - keep)
                return None
            if i:
                self._drop(i)
            if len(buf) < HDR_BYTES:
                return None
            (length,) = struct.unpack_from("<H", buf, 4)
            if crc8(bytes(buf[2:6])) != buf[6] or length > self.max_payload:
                self._drop(1)
                continue
            total = HDR_BYTES + length + CRC_BYTES
            if len(buf) < total:
                return None
            (want,) = struct.unpack_from("<I", buf, HDR_BYTES + length)
            if zlib.crc32(bytes(buf[2:6]) + bytes(buf[HDR_BYTES : HDR_BYTES + length])) != want:
                self.crc_errors += 1
                self._drop(1)
                continue
            frame = Frame(buf[2], buf[3], bytes(buf[HDR_BYTES : HDR_BYTES + length]))
            del buf[:total]
            return frame


# ---- payloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]
    bytes: int
    scale: float
    zero_point: int

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)


_TENSOR = struct.Struct("<BBH" + "i" * MAX_RANK + "Ifi")
_HELLO_HEAD = struct.Struct("<BBBBIIIIIHH")


@dataclass(frozen=True)
class DeviceInfo:
    """What the device says about itself in HELLO."""

    proto_version: int
    api_version: int
    emulated: bool
    boot: bool
    tick_unit: str  # "cycles" | "instructions"
    clock_hz: int
    model_hash: int
    arena_bytes: int
    weights_bytes: int
    num_layers: int
    max_rx_payload: int
    input: TensorSpec
    output: TensorSpec
    board: str
    model_name: str
    layer_names: tuple[str, ...] = field(default=())


def _tensor(raw: bytes) -> TensorSpec:
    vals = _TENSOR.unpack(raw)
    dtype, rank = vals[0], vals[1]
    if dtype not in DTYPES or rank > MAX_RANK:
        raise ValueError(f"bad tensor description (dtype {dtype}, rank {rank})")
    dims = tuple(int(d) for d in vals[3 : 3 + rank])
    return TensorSpec(
        DTYPES[dtype], dims, int(vals[3 + MAX_RANK]), float(vals[4 + MAX_RANK]), int(vals[5 + MAX_RANK])
    )


def _pack_tensor(t: TensorSpec) -> bytes:
    dims = list(t.shape) + [0] * (MAX_RANK - len(t.shape))
    return _TENSOR.pack(DTYPE_CODES[t.dtype], len(t.shape), 0, *dims, t.bytes, t.scale, t.zero_point)


def parse_hello(payload: bytes) -> DeviceInfo:
    try:
        h = _HELLO_HEAD.unpack_from(payload, 0)
        off = _HELLO_HEAD.size
        tin = _tensor(payload[off : off + _TENSOR.size])
        off += _TENSOR.size
        tout = _tensor(payload[off : off + _TENSOR.size])
        off += _TENSOR.size
        blen = payload[off]
        board = payload[off + 1 : off + 1 + blen].decode("ascii")
        off += 1 + blen
        mlen = payload[off]
        name = payload[off + 1 : off + 1 + mlen].decode("ascii")
        if off + 1 + mlen != len(payload):
            raise ValueError("trailing bytes")
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"malformed HELLO payload ({len(payload)} bytes): {err}") from err
    return DeviceInfo(
        proto_version=h[0],
        api_version=h[1],
        emulated=bool(h[2] & HELLO_EMULATED),
        boot=bool(h[2] & HELLO_BOOT),
        tick_unit="instructions" if h[3] == TickUnit.INSTRUCTIONS else "cycles",
        clock_hz=h[4],
        model_hash=h[5],
        arena_bytes=h[6],
        weights_bytes=h[7],
        num_layers=h[8],
        max_rx_payload=h[9],
        input=tin,
        output=tout,
        board=board,
        model_name=name,
    )


def pack_hello(info: DeviceInfo) -> bytes:
    """Inverse of :func:`parse_hello` (used by tests and simulated devices)."""
    flags = (HELLO_EMULATED if info.emulated else 0) | (HELLO_BOOT if info.boot else 0)
    unit = TickUnit.INSTRUCTIONS if info.tick_unit == "instructions" else TickUnit.CYCLES
    head = _HELLO_HEAD.pack(
        info.proto_version,
        info.api_version,
        flags,
        unit,
        info.clock_hz,
        info.model_hash,
        info.arena_bytes,
        info.weights_bytes,
        info.num_layers,
        info.max_rx_payload,
        0,
    )
    b, m = info.board.encode(), info.model_name.encode()
    return (
        head
        + _pack_tensor(info.input)
        + _pack_tensor(info.output)
        + bytes([len(b)])
        + b
        + bytes([len(m)])
        + m
    )


def pack_begin(xfer: int, total: int, per_layer: bool) -> bytes:
    return struct.pack("<HBBI", xfer & 0xFFFF, FLAG_PER_LAYER if per_layer else 0, 0, total)


def pack_data(xfer: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<HHI", xfer & 0xFFFF, 0, offset) + data


@dataclass(frozen=True)
class Ack:
    xfer: int
    next_offset: int


def parse_ack(payload: bytes) -> Ack:
    if len(payload) != 8:
        raise ValueError(f"ACK payload must be 8 bytes, got {len(payload)}")
    xfer, _, nxt = struct.unpack("<HHI", payload)
    return Ack(xfer, nxt)


@dataclass(frozen=True)
class Result:
    xfer: int
    status: int
    ticks: int
    input_crc: int
    output: bytes
    layer_ticks: tuple[int, ...]


_RESULT = struct.Struct("<HHiIII")


def parse_result(payload: bytes) -> Result:
    if len(payload) < _RESULT.size:
        raise ValueError(f"RESULT payload too short ({len(payload)} bytes)")
    xfer, nl, status, ticks, in_crc, nout = _RESULT.unpack_from(payload)
    if len(payload) != _RESULT.size + nout + 4 * nl:
        raise ValueError(f"RESULT length {len(payload)} != 20 + {nout} output + {nl} layer ticks")
    out = payload[_RESULT.size : _RESULT.size + nout]
    lt = struct.unpack_from(f"<{nl}I", payload, _RESULT.size + nout)
    return Result(xfer, status, ticks, in_crc, out, tuple(lt))


def pack_result(r: Result) -> bytes:
    return (
        _RESULT.pack(r.xfer, len(r.layer_ticks), r.status, r.ticks, r.input_crc, len(r.output))
        + r.output
        + struct.pack(f"<{len(r.layer_ticks)}I", *r.layer_ticks)
    )


@dataclass(frozen=True)
class DeviceErrorReply:
    code: int
    detail: int
    message: str

    def describe(self) -> str:
        try:
            name = ErrCode(self.code).name
        except ValueError:
            name = str(self.code)
        return f"{name} ({self.message}, detail {self.detail})"


def parse_error(payload: bytes) -> DeviceErrorReply:
    if len(payload) < 8:
        raise ValueError("ERROR payload too short")
    code, _, _, detail = struct.unpack_from("<BBHI", payload)
    return DeviceErrorReply(code, detail, payload[8:].decode("ascii", "replace"))


def parse_layers(payload: bytes) -> tuple[str, ...]:
    if len(payload) < 2:
        raise ValueError("LAYERS payload too short")
    (n,) = struct.unpack_from("<H", payload)
    names = payload[2:].split(b"\0")
    if len(names) != n + 1 or names[-1] != b"":
        raise ValueError(f"LAYERS payload does not hold {n} names")
    return tuple(x.decode("ascii", "replace") for x in names[:-1])
