"""Host mode: build a generated library with the host C compiler and call it from Python.

The same C that ships to the device runs here (DESIGN.md contract 3), so accuracy measured on
thousands of inputs is measured on the deployed numerics.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.emit import GeneratedLibrary, ModelInfo, render_template
from edgekit.errors import BuildError, DataError

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


def host_compiler() -> str:
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise BuildError(f"host C compiler '{cc}' not found; install gcc (apt-get install gcc) or set CC")
    return cc


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{proc.stderr.strip()[:4000]}")


def build_shared_library(lib: GeneratedLibrary, out: Path, extra_flags: list[str] | None = None) -> Path:
    cc = host_compiler()
    includes = [f"-I{d}" for d in lib.include_dirs]
    srcs = [str(s) for s in lib.sources + lib.runtime_sources]
    cmd = [cc, *CFLAGS, *(extra_flags or []), "-shared", *includes, *srcs, "-o", str(out), "-lm"]
    _run(cmd, f"host build of model library {lib.name}")
    return out


_NP_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


# shared objects this process has loaded: dlopen returns the first library loaded from a path for
# every later load of the same path, even after the file was rebuilt with another model
_LOADED: set[Path] = set()


@dataclass
class HostModel:
    """A generated model library loaded into this process."""

    library: GeneratedLibrary
    so_path: Path
    _handle: ctypes.CDLL
    _tmpdir: tempfile.TemporaryDirectory | None = None

    @classmethod
    def from_library(cls, lib: GeneratedLibrary, build_dir: Path | None = None) -> HostModel:
        tmp = None
        if build_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="edgekit-host-")
            build_dir = Path(tmp.name)
        build_dir.mkdir(parents=True, exist_ok=True)
        so = build_dir / f"libek_{lib.name}.so"
        if so.resolve() in _LOADED:  # the dynamic loader would hand back the library already loaded from this path
            so = build_dir / f"libek_{lib.name}-{len(_LOADED)}.so"
        build_shared_library(lib, so)
        handle = ctypes.CDLL(str(so))
        _LOADED.add(so.resolve())
        run = getattr(handle, f"ek_{lib.name}_run")
        run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        run.restype = ctypes.c_int
        return cls(library=lib, so_path=so, _handle=handle, _tmpdir=tmp)

    @property
    def info(self) -> ModelInfo:
        return self.library.info

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run a batch and return the outputs.

        The batch's first axis is the sample axis; each sample has the model's input shape, less
        its leading 1 when the model's batch dimension is 1 (a 1×32×32×3 model takes N×32×32×3).
        """
        info = self.info
        in_dtype = _NP_DTYPES[info.input.dtype]
        out_dtype = _NP_DTYPES[info.output.dtype]
        per_sample_in = sample_shape(info.input.shape)
        x = np.asarray(batch)
        if x.dtype != in_dtype:
            raise DataError(f"model {info.name} takes {info.input.dtype} input, got {x.dtype}; "
                            "quantize the data first (or pass a float model's data to a float model)")
        if x.ndim < 1 or int(np.prod(x.shape[1:])) != int(np.prod(per_sample_in)):
            raise DataError(f"model {info.name} takes samples of shape {list(per_sample_in)}, "
                            f"got {list(x.shape[1:])} (first axis is the batch)")
        x = np.ascontiguousarray(x.reshape(x.shape[0], -1))
        out_shape = sample_shape(info.output.shape)
        out = np.zeros((x.shape[0], int(np.prod(out_shape))), dtype=out_dtype)
        run = getattr(self._handle, f"ek_{info.name}_run")
        for i in range(x.shape[0]):
            rc = run(x[i].ctypes.data, out[i].ctypes.data)
            if rc != 0:
                raise BuildError(f"ek_{info.name}_run returned {rc} on sample {i}")
        return out.reshape((x.shape[0], *out_shape))


def sample_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of one sample: the tensor shape less a leading batch dimension of 1."""
    return tuple(shape[1:]) if len(shape) > 1 and shape[0] == 1 else tuple(shape)


def build_host_executable(lib: GeneratedLibrary, out: Path, sanitize: bool = False) -> Path:
    """A standalone host program over the library (`prog IN.bin OUT.bin N`), optionally under
    AddressSanitizer + UndefinedBehaviorSanitizer."""
    main_c = out.parent / f"{lib.name}_host_main.c"
    main_c.write_text(render_template("host_main.c.j2", name=lib.name, guard=lib.name.upper()))
    cc = host_compiler()
    flags = [f for f in CFLAGS if f != "-fPIC"] + (SANITIZE_FLAGS if sanitize else [])
    includes = [f"-I{d}" for d in lib.include_dirs]
    srcs = [str(s) for s in [main_c, *lib.sources, *lib.runtime_sources]]
    _run([cc, *flags, *includes, *srcs, "-o", str(out), "-lm"], f"host executable build of {lib.name}")
    return out


def run_host_executable(exe: Path, batch: np.ndarray, info: ModelInfo) -> np.ndarray:
    """Run `batch` through a program from :func:`build_host_executable`; sanitizer reports fail."""
    out_dtype = _NP_DTYPES[info.output.dtype]
    with tempfile.TemporaryDirectory(prefix="edgekit-exe-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        np.ascontiguousarray(batch).tofile(fin)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1", UBSAN_OPTIONS="print_stacktrace=1")
        proc = subprocess.run([str(exe), str(fin), str(fout), str(batch.shape[0])], capture_output=True,
                              text=True, env=env, timeout=600)
        if proc.returncode != 0 or "runtime error" in proc.stderr or "Sanitizer" in proc.stderr:
            raise BuildError(f"{exe.name} failed (exit {proc.returncode}):\n{proc.stderr[:4000]}")
        out = np.fromfile(fout, dtype=out_dtype)
    return out.reshape((batch.shape[0], *sample_shape(info.output.shape)))
