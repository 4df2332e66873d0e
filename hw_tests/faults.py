"""Link wrappers that damage traffic on purpose (garbage, truncation, bit flips, resets)."""

from __future__ import annotations

import random
from collections.abc import Callable

from edgekit.device import protocol as P
from edgekit.device.serial_link import Link


class FaultyLink:
    """Wraps a Link. `on_write(n, frame) -> bytes` may replace the n-th written frame's bytes;
    `on_read(chunk) -> bytes` may alter received bytes."""

    def __init__(
        self,
        inner: Link,
        on_write: Callable[[int, bytes], bytes] | None = None,
        on_read: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.on_write = on_write
        self.on_read = on_read
        self.writes = 0

    def write(self, data: bytes) -> None:
        if self.on_write:
            data = self.on_write(self.writes, data)
        self.writes += 1
        if data:
            self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        data = self.inner.read(timeout)
        return self.on_read(data) if (self.on_read and data) else data

    def close(self) -> None:
        self.inner.close()


def garbage(rng: random.Random, n: int) -> bytes:
    """Random bytes salted with sync pairs and plausible headers."""
    out = bytearray(rng.randbytes(n))
    for _ in range(max(1, n // 16)):
        i = rng.randrange(0, max(1, n - 7))
        out[i : i + 2] = P.SYNC
    return bytes(out)
