"""A small, bounds-checked reader of FlatBuffers tables.

It reads exactly what the TFLite front end needs and never trusts the file: every offset and
vector length is checked against the buffer, so a truncated or mutated file raises
:class:`ModelFormatError` instead of an IndexError, a huge allocation or a hang.
"""

from __future__ import annotations

import struct

import numpy as np

from edgekit.errors import ModelFormatError

_SCALAR = {
    "bool": ("<B", 1), "int8": ("<b", 1), "uint8": ("<B", 1), "int16": ("<h", 2), "uint16": ("<H", 2),
    "int32": ("<i", 4), "uint32": ("<I", 4), "int64": ("<q", 8), "uint64": ("<Q", 8), "float32": ("<f", 4),
}
_NUMPY = {"int8": "<i1", "uint8": "<u1", "int16": "<i2", "int32": "<i4", "uint32": "<u4", "int64": "<i8",
          "float32": "<f4", "bool": "<u1"}


class FlatBuffer:
    def __init__(self, data: bytes, what: str = "file") -> None:
        self.data = data
        self.size = len(data)
        self.what = what

    def fail(self, msg: str) -> ModelFormatError:
        return ModelFormatError(f"malformed {self.what}: {msg}")

    def check(self, pos: int, n: int) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise self.fail(f"offset {pos}+{n} outside the {self.size}-byte file (truncated or corrupt)")

    def scalar(self, pos: int, kind: str) -> int | float:
        fmt, n = _SCALAR[kind]
        self.check(pos, n)
        return struct.unpack_from(fmt, self.data, pos)[0]

    def root(self) -> Table:
        if self.size < 8:
            raise self.fail(f"only {self.size} bytes")
        return self.table_at(int(self.scalar(0, "uint32")))

    def table_at(self, pos: int) -> Table:
        self.check(pos, 4)
        vt = pos - int(self.scalar(pos, "int32"))
        self.check(vt, 4)
        vt_len = int(self.scalar(vt, "uint16"))
        obj_len = int(self.scalar(vt + 2, "uint16"))
        if vt_len < 4 or vt_len % 2:
            raise self.fail(f"bad vtable length {vt_len} at {vt}")
        self.check(vt, vt_len)
        self.check(pos, obj_len)
        return Table(self, pos, vt, vt_len, obj_len)


class Table:
    __slots__ = ("fb", "pos", "vt", "vt_len", "obj_len")

    def __init__(self, fb: FlatBuffer, pos: int, vt: int, vt_len: int, obj_len: int) -> None:
        self.fb, self.pos, self.vt, self.vt_len, self.obj_len = fb, pos, vt, vt_len, obj_len

    def _field(self, fid: int) -> int:
        """Absolute position of field `fid`, or 0 when absent."""
        slot = 4 + 2 * fid
        if slot + 2 > self.vt_len:
            return 0
        off = int(self.fb.scalar(self.vt + slot, "uint16"))
        if off == 0:
            return 0
        if off >= self.obj_len:
            raise self.fb.fail(f"field {fid} offset {off} beyond its table")
        return self.pos + off

    def has(self, fid: int) -> bool:
        return self._field(fid) != 0

    def scalar(self, fid: int, kind: str, default: int | float = 0) -> int | float:
        p = self._field(fid)
        return default if p == 0 else self.fb.scalar(p, kind)

    def _indirect(self, fid: int) -> int:
        p = self._field(fid)
        if p == 0:
            return 0
        return p + int(self.fb.scalar(p, "uint32"))

    def table(self, fid: int) -> Table | None:
        p = self._indirect(fid)
        return None if p == 0 else self.fb.table_at(p)

    def _vector(self, fid: int, elem_size: int) -> tuple[int, int]:
        p = self._indirect(fid)
        if p == 0:
            return 0, 0
        n = int(self.fb.scalar(p, "uint32"))
        self.fb.check(p + 4, n * elem_size)
        return p + 4, n

    def string(self, fid: int, default: str = "") -> str:
        start, n = self._vector(fid, 1)
        if start == 0:
            return default
        return self.fb.data[start:start + n].decode("utf-8", errors="replace")

    def array(self, fid: int, kind: str) -> np.ndarray:
        size = _SCALAR[kind][1]
        start, n = self._vector(fid, size)
        if start == 0:
            return np.zeros(0, dtype=_NUMPY[kind])
        return np.frombuffer(self.fb.data, dtype=_NUMPY[kind], count=n, offset=start)

    def bytes_view(self, fid: int) -> memoryview | None:
        start, n = self._vector(fid, 1)
        if start == 0:
            return None
        return memoryview(self.fb.data)[start:start + n]

    def tables(self, fid: int) -> list[Table]:
        start, n = self._vector(fid, 4)
        out = []
        for k in range(n):
            p = start + 4 * k
            out.append(self.fb.table_at(p + int(self.fb.scalar(p, "uint32"))))
        return out
