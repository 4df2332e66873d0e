"""arm64 (aarch64 Linux / Android-class) build of a generated library, run under qemu-aarch64.

The generated C is plain C99, so the same sources that run in host mode and on the
microcontroller cross-compile for 64-bit Arm. The driver is host mode's standalone program
(``codegen/host_main.c.j2``: ``prog IN.bin OUT.bin N``), built with ``aarch64-linux-gnu-gcc``
and run with ``qemu-aarch64 -L /usr/aarch64-linux-gnu``; :func:`check_bit_exact` compares its
outputs with host mode bit for bit.

Debian/Ubuntu packages: ``gcc-aarch64-linux-gnu`` (compiler + glibc sysroot) and ``qemu-user``
(``qemu-aarch64``). Override the tools with ``EDGEKIT_AARCH64_CC``, ``EDGEKIT_QEMU_AARCH64`` and
``EDGEKIT_AARCH64_SYSROOT`` (e.g. an Android NDK clang with ``--target=aarch64-linux-android21``
given through ``EDGEKIT_AARCH64_CFLAGS``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.emit import GeneratedLibrary, ModelInfo, render_template
from edgekit.errors import BuildError, DataError
from edgekit.toolchain.host import _NP_DTYPES, CFLAGS, HostModel, sample_shape

__all__ = ["CrossToolchain", "find_toolchain", "build_aarch64_executable", "run_aarch64_executable",
           "check_bit_exact", "CrossCheck", "APT_PACKAGES"]

APT_PACKAGES = ("gcc-aarch64-linux-gnu", "qemu-user")
DEFAULT_CC = "aarch64-linux-gnu-gcc"
DEFAULT_QEMU = "qemu-aarch64"
DEFAULT_SYSROOT = "/usr/aarch64-linux-gnu"
ARCH_FLAGS = ["-march=armv8-a"]


@dataclass(frozen=True)
class CrossToolchain:
    cc: str
    qemu: str | None  # None: build only (no emulator found)
    sysroot: str | None
    extra_cflags: tuple[str, ...] = ()

    def version(self) -> str:
        proc = subprocess.run([self.cc, "--version"], capture_output=True, text=True)
        return proc.stdout.splitlines()[0] if proc.returncode == 0 and proc.stdout else self.cc


def find_toolchain(require_emulator: bool = True) -> CrossToolchain:
    """The aarch64 compiler and emulator, from the environment or PATH; actionable error if missing."""
    cc = os.environ.get("EDGEKIT_AARCH64_CC", DEFAULT_CC)
    qemu = os.environ.get("EDGEKIT_QEMU_AARCH64", DEFAULT_QEMU)
    sysroot = os.environ.get("EDGEKIT_AARCH64_SYSROOT", DEFAULT_SYSROOT)
    hint = f"install it with `apt-get install {' '.join(APT_PACKAGES)}`"
    if shutil.which(cc) is None:
        raise BuildError(f"arm64 cross compiler '{cc}' not found; {hint} (or set EDGEKIT_AARCH64_CC)")
    qemu_path = shutil.which(qemu)
    if qemu_path is None and require_emulator:
        raise BuildError(f"'{qemu}' not found, so the arm64 build cannot run here; {hint} "
                         "(or set EDGEKIT_QEMU_AARCH64)")
    extra = tuple(shlex.split(os.environ.get("EDGEKIT_AARCH64_CFLAGS", "")))
    return CrossToolchain(cc=cc, qemu=qemu_path, sysroot=sysroot if Path(sysroot).is_dir() else None,
                          extra_cflags=extra)


def build_aarch64_executable(lib: GeneratedLibrary, out: Path, toolchain: CrossToolchain | None = None,
                             static: bool = False) -> Path:
    """Cross-compile `lib` with host mode's driver (``prog IN.bin OUT.bin N``) for aarch64."""
    tc = toolchain or find_toolchain(require_emulator=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    main_c = out.parent / f"{lib.name}_host_main.c"
    main_c.write_text(render_template("host_main.c.j2", name=lib.name, guard=lib.name.upper()))
    flags = [f for f in CFLAGS if f != "-fPIC"] + ARCH_FLAGS + list(tc.extra_cflags) + (["-static"] if static else [])
    includes = [f"-I{d}" for d in lib.include_dirs]
    srcs = [str(s) for s in [main_c, *lib.sources, *lib.runtime_sources]]
    cmd = [tc.cc, *flags, *includes, *srcs, "-o", str(out), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"arm64 build of model library {lib.name} failed ({tc.cc}):\n{proc.stderr.strip()[:4000]}")
    return out


def run_aarch64_executable(exe: Path, batch: np.ndarray, info: ModelInfo, toolchain: CrossToolchain | None = None,
                           timeout: float = 600) -> np.ndarray:
    """Run `batch` (already quantized, N × sample) through an arm64 program under qemu-aarch64."""
    tc = toolchain or find_toolchain()
    if tc.qemu is None:
        raise BuildError(f"'{DEFAULT_QEMU}' not found; install it with `apt-get install qemu-user`")
    x = np.asarray(batch)
    in_dtype = _NP_DTYPES[info.input.dtype]
    if x.dtype != in_dtype:
        raise DataError(f"model {info.name} takes {info.input.dtype} input, got {x.dtype}; quantize the data first")
    out_dtype = _NP_DTYPES[info.output.dtype]
    with tempfile.TemporaryDirectory(prefix="edgekit-a64-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        np.ascontiguousarray(x).tofile(fin)
        cmd = [tc.qemu, *(["-L", tc.sysroot] if tc.sysroot else []), str(exe), str(fin), str(fout), str(x.shape[0])]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BuildError(f"{exe.name} under {DEFAULT_QEMU} did not finish in {timeout:g} s; "
                             "run fewer samples") from None
        if proc.returncode != 0:
            raise BuildError(f"{exe.name} under {DEFAULT_QEMU} failed (exit {proc.returncode}):\n"
                             f"{proc.stderr.strip()[:4000]}")
        out = np.fromfile(fout, dtype=out_dtype)
    expected = x.shape[0] * int(np.prod(sample_shape(info.output.shape)))
    if out.size != expected:
        raise BuildError(f"{exe.name} wrote {out.size} output values, expected {expected}")
    return out.reshape((x.shape[0], *sample_shape(info.output.shape)))


@dataclass
class CrossCheck:
    samples: int
    identical: int  # samples whose whole output matches host mode bit for bit
    max_abs_diff: int
    compiler: str
    build_seconds: float
    run_seconds: float
    arm_outputs: np.ndarray
    host_outputs: np.ndarray

    @property
    def bit_exact(self) -> bool:
        return self.identical == self.samples

    def to_dict(self) -> dict[str, object]:
        return {"samples": self.samples, "identical": self.identical, "bit_exact": self.bit_exact,
                "max_abs_diff": self.max_abs_diff, "compiler": self.compiler,
                "build_seconds": round(self.build_seconds, 2), "run_seconds": round(self.run_seconds, 2)}


def check_bit_exact(lib: GeneratedLibrary, inputs: np.ndarray, work_dir: Path | None = None,
                    toolchain: CrossToolchain | None = None) -> CrossCheck:
    """Run `inputs` through `lib` on arm64 (qemu) and in host mode and compare the outputs."""
    tc = toolchain or find_toolchain()
    name = lib.name
    with tempfile.TemporaryDirectory(prefix="edgekit-a64-") as tmp:
        work = Path(work_dir) if work_dir else Path(tmp)
        t0 = time.perf_counter()
        exe = build_aarch64_executable(lib, work / "arm64" / f"{name}_arm64", tc)
        build_s = time.perf_counter() - t0
        x = np.ascontiguousarray(inputs).reshape((len(inputs), *sample_shape(lib.info.input.shape)))
        t0 = time.perf_counter()
        arm = run_aarch64_executable(exe, x, lib.info, tc)
        run_s = time.perf_counter() - t0
        host = HostModel.from_library(lib, work / "host").run(x)
    a = arm.reshape(len(x), -1).astype(np.int64)
    h = host.reshape(len(x), -1).astype(np.int64)
    diff = np.abs(a - h)
    return CrossCheck(samples=len(x), identical=int((diff.max(axis=1) == 0).sum()) if diff.size else len(x),
                      max_abs_diff=int(diff.max()) if diff.size else 0, compiler=tc.version(),
                      build_seconds=build_s, run_seconds=run_s, arm_outputs=arm, host_outputs=host)
