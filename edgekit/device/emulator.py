"""Run edgekit firmware in QEMU (netduinoplus2, an STM32F405 like a Nucleo) with exact
instruction counting (icount) and its console UART on a TCP port that pyserial opens as
``socket://127.0.0.1:PORT``, exactly like a board's serial port."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from edgekit.device.serial_link import SerialLink
from edgekit.errors import DeviceError

PR_SET_PDEATHSIG = 1  # linux/prctl.h

QEMU = "qemu-system-arm"
DEFAULT_MACHINE = "netduinoplus2"


def die_with_parent() -> None:
    """In a child process (``preexec_fn``): ask Linux to SIGKILL it when edgekit dies, however
    edgekit dies (even SIGKILL). Elsewhere a no-op: edgekit's signal handlers stop QEMU."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qemu_command(elf: Path, port: int, machine: str = DEFAULT_MACHINE, qemu: str = QEMU) -> list[str]:
    return [
        qemu,
        "-M", machine,
        "-display", "none",
        "-monitor", "none",
        "-nodefaults",
        "-icount", "shift=0,align=off,sleep=off",
        "-semihosting-config", "enable=on,target=native",
        "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
        "-kernel", str(elf),
    ]  # fmt: skip


class Emulator:
    """Context manager: QEMU running `elf`, `self.link` connected to its console UART.

    QEMU waits for the TCP client before starting the guest, so nothing the firmware prints is
    lost. QEMU is always killed (by PID) on exit."""

    def __init__(
        self,
        elf: Path | str,
        machine: str = DEFAULT_MACHINE,
        qemu: str = QEMU,
        start_timeout: float = 10.0,
        attempts: int = 5,
    ) -> None:
        self.elf = Path(elf)
        self.machine = machine
        self.qemu = qemu
        self.start_timeout = start_timeout
        self.attempts = attempts
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.link: SerialLink | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> SerialLink:
        if shutil.which(self.qemu) is None:
            raise DeviceError(
                f"{self.qemu} not found: install QEMU (`apt-get install qemu-system-arm`) to use --emulate"
            )
        if not self.elf.is_file():
            raise DeviceError(f"firmware {self.elf} does not exist; build it first")
        last_err = ""
        cmd: list[str] = []
        for _ in range(self.attempts):
            self.port = free_port()
            cmd = qemu_command(self.elf, self.port, self.machine, self.qemu)
            self._log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent, start_new_session=True,
            )
            deadline = time.monotonic() + self.start_timeout
            while self.link is None and time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last_err = f"QEMU exited with {self.proc.returncode}: {self.log_text()}"
                    break
                try:  # the first client that connects is the console: QEMU then starts the guest
                    self.link = SerialLink(self.url, open_timeout=0)
                except DeviceError as err:
                    last_err = str(err)
                    time.sleep(0.05)
            if self.link is not None:
                return self.link
            self._kill()  # port collision or slow start: try again on another port
        raise DeviceError(f"could not start the emulator ({' '.join(cmd)}): {last_err}")

    def log_text(self) -> str:
        """What QEMU printed (errors, semihosting output)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def wait_exit(self, timeout: float) -> int:
        """QEMU's exit status (the firmware's semihosting exit code)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise DeviceError(f"QEMU (pid {self.proc.pid}) did not exit within {timeout} s") from err

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        self._kill()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
