"""Byte links to a device: a pyserial port (``/dev/ttyACM0``, ``COM3``) or URL
(``socket://127.0.0.1:PORT`` for the emulator). :class:`DeviceClient` only needs the small
:class:`Link` interface, so tests can wrap a link to inject garbage or drop bytes."""

from __future__ import annotations

import time
from typing import Protocol

from edgekit.errors import DeviceError

DEFAULT_BAUD = 115200


class Link(Protocol):
    name: str

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes: ...

    def close(self) -> None: ...


class SerialLink:
    """A pyserial port or URL. Errors become :class:`DeviceError` naming the port."""

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, open_timeout: float = 5.0) -> None:
        import serial  # pyserial

        self.name = port
        deadline = time.monotonic() + open_timeout
        while True:
            try:
                self._ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05, write_timeout=5.0)
                break
            except (serial.SerialException, OSError, ValueError) as err:
                if time.monotonic() >= deadline:
                    raise DeviceError(
                        f"cannot open serial port {port!r}: {err}. Check that the board is plugged in "
                        "and the port name (`ls /dev/ttyACM*` on Linux), and that no other program "
                        "(a serial monitor) holds it."
                    ) from err
                time.sleep(0.1)

    def write(self, data: bytes) -> None:
        import serial

        try:
            self._ser.write(data)
            self._ser.flush()
        except (serial.SerialException, OSError) as err:
            raise DeviceError(f"writing {len(data)} bytes to {self.name} failed: {err}") from err

    def read(self, timeout: float) -> bytes:
        import serial

        deadline = time.monotonic() + max(timeout, 0.0)
        try:
            while True:
                data = self._ser.read(max(1, self._ser.in_waiting))
                if data:
                    more = self._ser.in_waiting
                    return data + (self._ser.read(more) if more else b"")
                if time.monotonic() >= deadline:
                    return b""
        except (serial.SerialException, OSError) as err:
            raise DeviceError(
                f"reading from {self.name} failed: {err} (the device or emulator closed the link)"
            ) from err

    def close(self) -> None:
        try:
            self._ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not mask the real error
            pass

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
