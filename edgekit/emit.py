"""C emitter: a lowered, planned model → a self-contained C99 library rendered from `codegen/`.

The library holds `<name>.h`, `<name>.c` (the layer calls over one static arena),
`<name>_weights.c` (const arrays in flash), the runtime kernels it needs (`runtime/`),
a `CMakeLists.txt` and a PlatformIO `library.json`. The emitter only renders: lowering
(:mod:`edgekit.lower`) and planning (:mod:`edgekit.plan.memory`) happen before, in the pipeline
(:mod:`edgekit.pipeline`). Every kernel parameter struct is checked against its C declaration
in ``ek_runtime.h`` before it is written (:func:`edgekit.ops.params.check_against_header`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2
import numpy as np

from edgekit.errors import EdgekitError
from edgekit.ir.graph import Graph, Tensor, fnv1a32
from edgekit.lower import LoweredModel
from edgekit.ops.params import CStruct, check_against_header, check_requant_mode_enum
from edgekit.outputs import OwnedFolder
from edgekit.plan.memory import MemoryPlan
from edgekit.resources import resource_dir

_C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t",
            "uint32": "uint32_t", "int64": "int64_t", "float32": "float"}
_EK_DTYPES = {"int8": "EK_DTYPE_INT8", "uint8": "EK_DTYPE_UINT8", "int16": "EK_DTYPE_INT16",
              "int32": "EK_DTYPE_INT32", "float32": "EK_DTYPE_FLOAT32"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


@dataclass
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


@dataclass
class ModelInfo:
    name: str
    input: TensorInfo
    output: TensorInfo
    arena_bytes: int
    weights_bytes: int
    layer_names: list[str]
    model_hash: int
    live_bytes: list[int] = field(default_factory=list)


@dataclass
class GeneratedLibrary:
    dir: Path
    name: str
    sources: list[Path]
    runtime_sources: list[Path]
    include_dirs: list[Path]
    info: ModelInfo


#: Names a model may not take: the C files of edgekit's runtime, harness and board support
#: (a model's files are <name>.h/.c/_weights.c next to them), and C keywords.
C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary""".split())
NAME_MAX_CHARS = 32


@cache
def reserved_names() -> frozenset[str]:
    fw = resource_dir("firmware")
    stems = {p.stem for sub in ("runtime", "harness", "boards/stm32") for p in (fw / sub).iterdir() if p.is_file()}
    return frozenset(stems | {"main", "ek_binding"} | C_KEYWORDS)


def default_name(model_path: Path) -> str:
    """A valid, non-reserved C identifier from a model file name: `vww_96-int8.tflite` → `vww_96_int8`;
    non-ASCII letters are transliterated or dropped, long names shortened with a hash suffix."""
    raw = Path(model_path).stem
    ascii_stem = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9]+", "_", ascii_stem).strip("_").lower() or "model"
    if stem[0].isdigit():
        stem = f"m_{stem}"
    if len(stem) > NAME_MAX_CHARS:
        stem = f"{stem[:NAME_MAX_CHARS - 9].rstrip('_')}_{fnv1a32(raw.encode()):08x}"
    if stem in reserved_names():
        stem = f"m_{stem}"
    return stem


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise EdgekitError(f"--name {name!r} is not a C identifier; use letters, digits and '_' "
                           f"(up to {NAME_MAX_CHARS} characters, not starting with a digit)")
    if name in reserved_names():
        raise EdgekitError(f"--name {name!r} is reserved: edgekit's runtime has a file or symbol of that name; "
                           "choose another name")
    return name


def tensor_info(t: Tensor) -> TensorInfo:
    scale = t.quant.scalar_scale if t.quant is not None else 1.0
    zp = t.quant.scalar_zero_point if t.quant is not None else 0
    return TensorInfo(shape=tuple(t.shape), dtype=t.dtype, scale=scale, zero_point=zp)


def _float_bits(v: float) -> str:
    """The IEEE-754 binary32 bits of `v` as a C unsigned literal (float constants without a float type)."""
    return f"0x{int(np.array(v, dtype=np.float32).view(np.uint32)):08x}u"


def _c_float(v: float) -> str:
    return float(np.float32(v)).hex() + "f"


def _c_array_body(arr: np.ndarray) -> str:
    flat = arr.reshape(-1)
    if flat.dtype == np.float32:
        items = [_c_float(x) for x in flat.tolist()]
    else:
        items = [str(x) for x in flat.tolist()]
    lines = [", ".join(items[i:i + 24]) for i in range(0, len(items), 24)]
    return ",\n    ".join(lines)


@dataclass
class _Array:
    symbol: str
    ctype: str
    length: int
    body: str
    nbytes: int


@dataclass
class _Layer:
    index: int
    label: str
    func: str | None
    params_type: str
    params_symbol: str
    init: str  # the designated initializer of the parameter struct
    inputs: list[str]  # C expressions of the input pointers: ``a + <offset>`` or the caller's ``input``
    outputs: list[int]
    scratch: int | None
    own_params: bool = True  # False: the same parameters as an earlier layer, whose struct it uses


def _c_int(v: int) -> str:
    return str(v) if -(2**31) < v < 2**31 else f"{v}LL"


def render_struct(value: CStruct, symbol: str, arrays: list[_Array], indent: str = "    ",
                  shared: dict[tuple[str, str], str] | None = None) -> str:
    """The designated initializer ``{ .field = value, ... }`` of `value`; its arrays are appended
    to `arrays` as ``const`` arrays named ``<symbol>_<field>`` (zero-length arrays: NULL). With
    `shared` (type and contents → symbol), an array equal to one already emitted is not emitted
    again: the struct points at the first (the tiles of a patch stage share their layer's weights)."""
    lines = []
    for fname, v in value.items():
        if isinstance(v, CStruct):
            text = render_struct(v, f"{symbol}_{fname}", arrays, indent + "    ", shared)
        elif isinstance(v, np.ndarray):
            arr = np.ascontiguousarray(v)
            if arr.size == 0:
                text = "0"
            else:
                ctype, body = _C_TYPES[str(arr.dtype)], _c_array_body(arr)
                text = shared.get((ctype, body), "") if shared is not None else ""
                if not text:
                    text = f"{symbol}_{fname}"
                    arrays.append(_Array(symbol=text, ctype=ctype, length=arr.size, body=body, nbytes=arr.nbytes))
                    if shared is not None:
                        shared[(ctype, body)] = text
        elif isinstance(v, float | np.floating):
            text = _c_float(float(v))
        else:
            text = _c_int(int(v))
        lines.append(f"{indent}.{fname} = {text},")
    close = indent[:-4]
    return "{\n" + "\n".join(lines) + f"\n{close}}}"


def _render_layers(name: str, model: LoweredModel, plan: MemoryPlan) -> tuple[list[_Layer], list[_Array]]:
    layers: list[_Layer] = []
    arrays: list[_Array] = []
    shared_arrays: dict[tuple[str, str], str] = {}
    structs: dict[tuple[str, str], str] = {}  # (type, initializer) → symbol: equal parameters emitted once
    for step, lowered in enumerate(model.layers):
        call = lowered.call
        psym = f"{name}_p{step}"
        init = ""
        own = True
        if not call.is_view:
            if call.params is None:
                raise EdgekitError(f"internal: {lowered.node.label} lowers to {call.func} without parameters")
            check_against_header(call.params, where=f"{lowered.label} ({call.params_type})")
            init = render_struct(call.params, psym, arrays, shared=shared_arrays)
            key = (call.params_type, init)
            if key in structs:
                psym, own = structs[key], False
            else:
                structs[key] = psym
        layers.append(_Layer(
            index=step, label=lowered.label, func=None if call.is_view else call.func,
            params_type=call.params_type, params_symbol=psym, init=init,
            inputs=["input" if t not in plan.tensor_offset and t in model.graph.inputs and model.input_in_place
                    else f"a + {plan.tensor_offset[t]}" for t in call.inputs],
            outputs=[plan.tensor_offset[t] for t in call.outputs],
            scratch=plan.scratch_offset.get(step), own_params=own,
        ))
    return layers, arrays


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("codegen"))),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )


def render_template(template: str, **ctx: object) -> str:
    return _environment().get_template(template).render(**ctx)


def model_info(name: str, graph: Graph, model: LoweredModel, plan: MemoryPlan, weights_bytes: int) -> ModelInfo:
    return ModelInfo(
        name=name, input=tensor_info(graph.tensors[graph.inputs[0]]),
        output=tensor_info(graph.tensors[graph.outputs[0]]), arena_bytes=plan.arena_bytes,
        weights_bytes=weights_bytes, layer_names=[lay.label for lay in model.layers],
        model_hash=graph.source_hash, live_bytes=plan.live_bytes,
    )


def emit_library(model: LoweredModel, plan: MemoryPlan, out_dir: Path, name: str, *,
                 force: bool = False) -> GeneratedLibrary:
    """Render the lowered, planned `model` as a C library in `out_dir`.

    `out_dir` is an :class:`~edgekit.outputs.OwnedFolder`: new, empty, or one edgekit generated
    into (``force`` admits another non-empty folder). Several models can live in one folder: they
    share its runtime and its ``CMakeLists.txt``/``library.json`` list all of them. A user's file is
    never replaced or deleted.
    """
    check_name(name)
    check_requant_mode_enum()
    folder = OwnedFolder(out_dir, force=force, what="library folder")
    graph = model.graph
    layers, arrays = _render_layers(name, model, plan)
    weights_bytes = sum(a.nbytes for a in arrays)
    info = model_info(name, graph, model, plan, weights_bytes)
    models: dict[str, list[str]] = {m: list(rt) for m, rt in folder.data("models", {}).items()
                                    if m != name and folder.files(m)}
    models[name] = list(model.runtime_sources)
    runtime_files = sorted({f for rt in models.values() for f in rt})
    src_runtime = resource_dir("firmware") / "runtime"
    files: dict[str, bytes | str] = {f"runtime/{h.name}": h.read_bytes() for h in sorted(src_runtime.glob("*.h"))}
    files.update({f"runtime/{f}": (src_runtime / f).read_bytes() for f in runtime_files})
    in_t = graph.tensors[graph.inputs[0]]
    out_t = graph.tensors[graph.outputs[0]]
    ctx = {
        "name": name, "guard": name.upper(), "layers": layers, "arrays": arrays, "info": info,
        "arena_bytes": max(plan.arena_bytes, 4),
        "input_offset": plan.tensor_offset.get(in_t.id, -1), "output_offset": plan.tensor_offset[out_t.id],
        "input_bytes": in_t.nbytes, "output_bytes": out_t.nbytes,
        "input_dtype": _EK_DTYPES.get(in_t.dtype, "EK_DTYPE_INT8"),
        "output_dtype": _EK_DTYPES.get(out_t.dtype, "EK_DTYPE_INT8"),
        "c_float": _c_float, "float_bits": _float_bits, "runtime_files": runtime_files, "models": sorted(models),
        "weights_bytes": weights_bytes,
    }
    env = _environment()
    own = {f"{name}.h": "model.h.j2", f"{name}.c": "model.c.j2", f"{name}_weights.c": "weights.c.j2"}
    shared = {"CMakeLists.txt": "CMakeLists.txt.j2", "library.json": "library.json.j2"}
    for fname, template in {**own, **shared}.items():
        files[fname] = env.get_template(template).render(**ctx)
    folder.set_data("models", models)
    folder.write(files, scope=name, shared=[f for f in files if f not in own])
    out_dir = folder.path
    runtime_dir = out_dir / "runtime"
    return GeneratedLibrary(dir=out_dir, name=name, sources=[out_dir / f"{name}.c", out_dir / f"{name}_weights.c"],
                            runtime_sources=[runtime_dir / f for f in model.runtime_sources],
                            include_dirs=[out_dir, runtime_dir], info=info)
