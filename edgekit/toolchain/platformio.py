"""Generate and build the device firmware as a PlatformIO project, offline.

edgekit installs three local packages into a PlatformIO core directory it controls
(``$EDGEKIT_PIO_HOME``, default ``~/.cache/edgekit/platformio``): ``tool-scons`` (SCons from the
PyPI wheel), ``toolchain-edgekit-arm`` (symlinks to the system's ``arm-none-eabi-*`` tools) and
uses its dev-platform ``targets/platformio`` by ``symlink://``, so ``pio run`` never needs the
PlatformIO registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import jinja2

from edgekit.errors import BuildError
from edgekit.resources import resource_dir
from edgekit.targets import Board

SCONS_PACKAGE_VERSION = "4.41101.0"  # satisfies PlatformIO 6.2's "~4.41101.0"
TOOLCHAIN_TOOLS = (
    "gcc",
    "g++",
    "cpp",
    "as",
    "ar",
    "ld",
    "nm",
    "objcopy",
    "objdump",
    "ranlib",
    "size",
    "strip",
)
HARNESS_SOURCES = ("main.c", "ek_proto.c", "ek_harness.c")
HARNESS_HEADERS = ("ek_proto.h", "ek_harness.h", "ek_board.h", "ek_binding.h")
BOARD_SOURCES = ("startup_cortexm.c", "ek_board_stm32.c")
DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4}


class TensorLike(Protocol):
    shape: tuple[int, ...]
    dtype: str


class ModelInfoLike(Protocol):
    input: TensorLike
    output: TensorLike
    arena_bytes: int
    weights_bytes: int
    layer_names: list[str] | tuple[str, ...]
    model_hash: int


class ModelLibrary(Protocol):
    """What the firmware build needs of a generated model library (edgekit.emit.GeneratedLibrary)."""

    dir: Path
    name: str
    sources: list[Path]
    runtime_sources: list[Path]
    include_dirs: list[Path]
    info: ModelInfoLike


@dataclass(frozen=True)
class Toolchain:
    home: Path
    scons_dir: Path
    toolchain_dir: Path
    platform_dir: Path


@dataclass(frozen=True)
class FirmwareBuild:
    project_dir: Path
    elf: Path
    rom_bytes: int  # text + data (flash image)
    ram_bytes: int  # data + bss (includes the reserved stack)
    text_bytes: int
    data_bytes: int
    bss_bytes: int
    seconds: float
    log: str = field(repr=False, default="")


def pio_home() -> Path:
    env = os.environ.get("EDGEKIT_PIO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgekit" / "platformio"


def _tool_dir() -> Path:
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        raise BuildError(
            "arm-none-eabi-gcc not found on PATH: install the Arm bare-metal toolchain "
            "(Debian/Ubuntu: `apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`)"
        )
    return Path(gcc).resolve().parent


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def ensure_toolchain(home: Path | None = None) -> Toolchain:
    """Install (idempotently) edgekit's local tool-scons and toolchain packages under `home`."""
    home = (home or pio_home()).resolve()
    pkgs = home / "edgekit-packages"
    try:
        import SCons  # noqa: F401  (from the PyPI `scons` wheel)
    except ImportError as err:
        raise BuildError("SCons is missing: `pip install scons` (edgekit depends on it)") from err
    import SCons as _scons

    scons_parent = Path(_scons.__file__).resolve().parent.parent
    scons_dir = pkgs / "tool-scons"
    _write_if_changed(
        scons_dir / "package.json",
        json.dumps({"name": "tool-scons", "version": SCONS_PACKAGE_VERSION, "system": "*"}, indent=2) + "\n",
    )
    _write_if_changed(
        scons_dir / "scons.py",
        "# edgekit: run SCons from the PyPI wheel (no download)\n"
        "import sys\n"
        f"sys.path.insert(0, {str(scons_parent)!r})\n"
        "import SCons.Script\n"
        "SCons.Script.main()\n",
    )
    tools = _tool_dir()
    tc_dir = pkgs / "toolchain-edgekit-arm"
    _write_if_changed(
        tc_dir / "package.json",
        json.dumps({"name": "toolchain-edgekit-arm", "version": "1.0.0", "system": "*",
                    "description": f"symlinks to {tools}/arm-none-eabi-*"}, indent=2) + "\n",
    )  # fmt: skip
    bin_dir = tc_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLCHAIN_TOOLS:
        src = tools / f"arm-none-eabi-{tool}"
        dst = bin_dir / src.name
        if not src.exists():
            continue
        if dst.is_symlink() and Path(os.readlink(dst)) == src:
            continue
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        dst.symlink_to(src)
    return Toolchain(home, scons_dir, tc_dir, resource_dir("targets") / "platformio")


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("codegen") / "platformio")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def tensor_bytes(t: TensorLike) -> int:
    n = 1
    for d in t.shape:
        n *= int(d)
    try:
        return n * DTYPE_BYTES[str(t.dtype)]
    except KeyError as err:
        raise BuildError(f"tensor dtype {t.dtype!r} is not one the device harness handles") from err


def _copy(src: Path, dst_dir: Path) -> None:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


def _headers(dirs: list[Path]) -> list[Path]:
    return [h for d in dirs for h in sorted(Path(d).glob("*.h"))]


def env_name(board: Board, emulated: bool) -> str:
    return board.name + ("-qemu" if emulated else "")


def generate_project(
    lib: ModelLibrary, board: Board, project_dir: Path, emulated: bool, toolchain: Toolchain | None = None
) -> Path:
    """Write a PlatformIO project for `lib` on `board` into `project_dir` and return it."""
    if board.is_host or board.emulator is None and emulated:
        raise BuildError(f"board {board.name} has no firmware build{' or emulator' if emulated else ''}")
    tc = toolchain or ensure_toolchain()
    project_dir = Path(project_dir).resolve()
    fw = resource_dir("firmware")
    src, inc, ld = project_dir / "src", project_dir / "include", project_dir / "ld"
    for name in HARNESS_SOURCES:
        _copy(fw / "harness" / name, src)
    for name in BOARD_SOURCES:
        _copy(fw / "boards" / "stm32" / name, src)
    for name in HARNESS_HEADERS:
        _copy(fw / "harness" / name, inc)
    _copy(fw / "runtime" / "ek_model.h", inc)
    for script in (fw / "boards" / "ld").glob("*.ld"):
        _copy(script, ld)

    tpl = _templates()
    info = lib.info
    header = f"{lib.name}.h"
    model_headers = _headers(list(lib.include_dirs) + [Path(lib.dir)])
    if not any(h.name == header for h in model_headers):
        raise BuildError(
            f"generated library {lib.dir} has no {header}; regenerate it with `edgekit generate`"
        )
    binding = tpl.get_template("ek_binding.c.j2").render(
        name=lib.name, header=header, input_bytes=tensor_bytes(info.input),
        output_bytes=tensor_bytes(info.output), num_layers=len(info.layer_names),
    )  # fmt: skip
    _write_if_changed(src / "ek_binding.c", binding)

    model_lib = project_dir / "lib" / lib.name / "src"
    for path in list(lib.sources) + model_headers:
        _copy(Path(path), model_lib)
    rt_lib = project_dir / "lib" / "edgekit_runtime" / "src"
    rt_lib.mkdir(parents=True, exist_ok=True)
    for path in list(lib.runtime_sources) + _headers([fw / "runtime"]):
        _copy(Path(path), rt_lib)
    if not lib.runtime_sources:  # PlatformIO wants something to build in a listed library
        _write_if_changed(rt_lib / "ek_runtime_empty.c", "typedef int ek_runtime_empty_t;\n")
    for lname, desc in (
        (lib.name, f"edgekit generated model {lib.name}"),
        ("edgekit_runtime", "edgekit kernels"),
    ):
        _write_if_changed(
            project_dir / "lib" / lname / "library.json",
            tpl.get_template("library.json.j2").render(name=lname, description=desc),
        )

    clock = board.clock_hz if emulated else board.run_clock_hz
    defines = [f'EK_BOARD_NAME=\\"{board.name}\\"', f"EK_CLOCK_HZ={clock}u"]
    if board.console is not None:
        defines.append(f"EK_CONSOLE_BAUD={board.console.baud}u")
    defines.append("EK_EMULATOR=1" if emulated else f"{board.define}=1")
    ldscript = ld / (board.emulator_linker_script if emulated else board.linker_script)
    ini = tpl.get_template("platformio.ini.j2").render(
        name=lib.name, board=board, emulated=emulated, env_name=env_name(board, emulated),
        platform_dir=tc.platform_dir, scons_dir=tc.scons_dir, toolchain_dir=tc.toolchain_dir,
        pio_board=env_name(board, emulated), ldscript=ldscript, cpu_flags=" ".join(board.cpu_flags(emulated)),
        upload_protocol="qemu" if emulated else board.upload_methods[0], qemu_args="",
        project_dir=project_dir, defines=defines,
    )  # fmt: skip
    _write_if_changed(project_dir / "platformio.ini", ini)
    return project_dir


def pio_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PLATFORMIO_CORE_DIR=str(home),
        PLATFORMIO_NO_ANSI="true",
        PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
        PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="3650",
        PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0",
        PLATFORMIO_DISABLE_PROGRESSBAR="true",
    )
    return env


def pio_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "platformio", *args]


def elf_sizes(elf: Path) -> tuple[int, int, int]:
    """(text, data, bss) of a linked ELF, from `arm-none-eabi-size -B`."""
    size = shutil.which("arm-none-eabi-size") or str(_tool_dir() / "arm-none-eabi-size")
    try:
        out = subprocess.run([size, "-B", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise BuildError(f"cannot read the size of {elf}: {err}") from err
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s", out, re.MULTILINE)
    if not m:
        raise BuildError(f"unexpected arm-none-eabi-size output for {elf}: {out!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def build(project_dir: Path, board: Board, emulated: bool, home: Path | None = None,
          timeout: float = 600.0) -> FirmwareBuild:  # fmt: skip
    """`pio run` the project offline; BuildError with PlatformIO's output on failure."""
    home = (home or pio_home()).resolve()
    ensure_toolchain(home)
    env = env_name(board, emulated)
    cmd = pio_command("run", "-d", str(project_dir), "-e", env)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=pio_env(home), timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise BuildError(f"PlatformIO build timed out after {timeout:.0f} s: {' '.join(cmd)}") from err
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-25:])
        hint = ""
        if "HTTPClientError" in log or "registry" in log.lower():
            hint = " (PlatformIO tried to reach its registry: a package is missing from the local setup)"
        elif "will not fit in region" in log or "region `" in log:
            hint = " (the firmware does not fit the board's memory)"
        raise BuildError(f"PlatformIO build failed{hint}: {' '.join(cmd)}\n{tail}")
    elf = Path(project_dir) / ".pio" / "build" / env / "firmware.elf"
    if not elf.is_file():
        raise BuildError(f"PlatformIO reported success but {elf} is missing:\n{log[-2000:]}")
    text, data, bss = elf_sizes(elf)
    return FirmwareBuild(Path(project_dir), elf, text + data, data + bss, text, data, bss, seconds, log)
