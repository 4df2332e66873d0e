"""The pipeline, step by step: load → quantize → lower → plan → emit → build → run → validate.

Each step takes what the previous one gives and hands on what the next one needs; every
command of the CLI (:mod:`edgekit.cli`) is a composition of these functions:

======== ============================================ ==========================================
step     function                                     gives
======== ============================================ ==========================================
load     :func:`load` (any front end's format)        a :class:`Graph` (float or quantized)
quantize :func:`quantize` (PTQ, calibration data)      :class:`PTQResult` (``.graph``: int8 graph)
lower    :func:`lower`                                a :class:`LoweredModel` (kernel calls)
plan     :func:`plan`                                 a :class:`MemoryPlan` (the arena)
emit     :func:`emit`                                 a :class:`GeneratedLibrary` (C files)
build    :func:`build_host` / the firmware build      a host library / firmware (in
                                                      :func:`deploy`)
run      :meth:`HostModel.run`, the device session     outputs, ticks
validate :func:`deploy`, :func:`validate_device`       a :class:`ValidationResult`
======== ============================================ ==========================================

Compositions: :func:`generate` (lower + plan + emit), :func:`compile_model` (load + generate +
build_host), :func:`evaluate` (accuracy on the host), :func:`export_model`, :func:`check_arm64`.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.data import Dataset, Preprocess, load_dataset, random_inputs
from edgekit.data.checks import check_labels, class_names_mismatch
from edgekit.data.preprocess import describe
from edgekit.emit import GeneratedLibrary, ModelInfo, TensorInfo, check_name, default_name, emit_library
from edgekit.errors import DataError, EdgekitError, ModelFormatError, UnsupportedOpError
from edgekit.export import ExportResult, export_graph
from edgekit.frontends.loader import TORCH_SUFFIXES, load_model, require_torch
from edgekit.frontends.tflite import parse_tflite
from edgekit.ir.graph import Graph
from edgekit.lower import LoweredModel, lower_graph
from edgekit.metadata import preprocess_for, preprocess_recorded
from edgekit.outputs import OwnedFolder, check_output_file, write_file
from edgekit.patch import PatchPlan, PatchSpec, choose_patches, inplace_depthwise, parse_patch, plan_patches
from edgekit.plan.memory import MemoryPlan, plan_memory
from edgekit.targets import Board
from edgekit.toolchain.host import HostModel
from edgekit.validate import ValidationResult, chance_bound

if TYPE_CHECKING:
    from edgekit.quant.ptq import PTQConfig, PTQResult
    from edgekit.toolchain.cross import CrossCheck

ModelSource = Path | str | bytes | Graph
DEFAULT_RANDOM_SAMPLES = 10

# ---------------------------------------------------------------------------------------------
# load


def load(model: ModelSource, name: str = "model") -> Graph:
    """A model file (any format a front end reads), TFLite bytes or a graph → the graph."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, bytes):
        return parse_tflite(model, name=name)
    return load_model(Path(model))


@dataclass
class FloatModel:
    graph: Graph
    preprocess: Preprocess
    source: str


def _pixel_override(pre: Preprocess, pixel_scale: Any, pixel_offset: Any) -> Preprocess:
    changes: dict[str, Any] = {}
    if pixel_scale is not None:
        changes["scale"] = tuple(pixel_scale) if isinstance(pixel_scale, (list, tuple)) else float(pixel_scale)
    if pixel_offset is not None:
        changes["offset"] = tuple(pixel_offset) if isinstance(pixel_offset, (list, tuple)) else float(pixel_offset)
    return replace(pre, **changes) if changes else pre


def load_float_model(path: Path | str, *, pixel_scale: Any = None, pixel_offset: Any = None) -> FloatModel:
    """A float model file → graph + preprocessing (``real = pixel·scale + offset``).

    The preprocessing comes from the file when it records one (PyTorch checkpoints may), else
    the default for the input shape (pixels/255); `pixel_scale`/`pixel_offset` override it.
    """
    p = Path(path)
    graph = load_model(p)
    if graph.is_quantized:
        raise ModelFormatError(f"{p} is already quantized (int8 input/output); give a float model")
    return FloatModel(graph, _pixel_override(preprocess_for(graph), pixel_scale, pixel_offset), str(p))


# ---------------------------------------------------------------------------------------------
# quantize


def quantize(model: Path | str, calib: Path | str | Dataset, *, num_calib: int = 1000, seed: int = 0,
             config: PTQConfig | None = None, pixel_scale: Any = None, pixel_offset: Any = None,
             method: str = "ptq", bits: str = "W8A8", search_images: int = 32) -> PTQResult:
    """Quantization of a float model file with `num_calib` class-balanced samples of `calib`:
    ``ptq`` (full int8, TFLite builtins), ``ivit`` (integer-only transformer, :mod:`edgekit.quant.ivit`)
    or a ViT PTQ method of :mod:`edgekit.quant.methods` (``qhyvit``, ``easyquant``, ``repqvit``,
    ``ptq4vit``, ``fqvit``) lowered onto the same integer-only graph at `bits` (``W8A8``/``W4A8``);
    the result's ``graph`` is the quantized graph (``tflite`` its file bytes)."""
    require_torch("quantize")
    from edgekit.quant.fakequant import parse_bits
    from edgekit.quant.ivit import quantize_ivit
    from edgekit.quant.ptq import PTQConfig, quantize_graph

    if method not in ("ptq", "ivit") + SEARCH_METHODS:
        raise EdgekitError(f"unknown quantization method {method!r}; use ptq, ivit or {', '.join(SEARCH_METHODS)}")
    w_bits, a_bits = parse_bits(bits)
    if method in ("ptq", "ivit") and (w_bits, a_bits) != (8, 8):
        raise EdgekitError(f"--method {method} quantizes to W8A8; for --bits {bits} use --method qhyvit "
                           "(or easyquant, repqvit)")
    if method in SEARCH_METHODS and a_bits != 8:
        raise EdgekitError(f"--bits {bits}: edgekit's integer kernels run 8-bit activations; deployable settings are "
                           "W8A8 and W4A8 (bench/qhyvit.py measures W6A6 and W4A4 in simulation)")
    if method in ("ptq4vit", "fqvit"):
        kind = "twin-uniform" if method == "ptq4vit" else "log2 softmax and power-of-two LayerNorm-input"
        raise EdgekitError(f"--method {method} uses {kind} quantizers, which edgekit's integer kernels do not run; "
                           "it is a baseline measured in simulation (bench/qhyvit.py); deploy with --method qhyvit")

    fm = load_float_model(model, pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    ds = calib if isinstance(calib, Dataset) else load_dataset(calib, limit=num_calib, seed=seed)
    if len(ds) > num_calib:
        ds = Dataset(ds.images[:num_calib], None if ds.labels is None else ds.labels[:num_calib],
                     ds.class_names, ds.source)
    x = fm.preprocess.apply(ds.images, source=ds.source)
    description = {"source": Path(fm.source).name, "seed": seed}
    if method in SEARCH_METHODS:
        from edgekit.quant.methods import integer_graph, quantize_method

        cfg = config or PTQConfig()
        found = quantize_method(fm.graph, x, fm.preprocess, method, w_bits, a_bits, device=cfg.device or "cpu",
                                search_images=search_images, deployable=True, progress=cfg.progress)
        return integer_graph(found, fm.graph.name, fm.preprocess, description)
    run = quantize_ivit if method == "ivit" else quantize_graph
    return run(fm.graph, x, fm.preprocess, config, description=description)


#: the ViT PTQ methods (edgekit.quant.methods) that `quantize` lowers onto the integer-only graph
SEARCH_METHODS = ("qhyvit", "easyquant", "repqvit", "ptq4vit", "fqvit")


# ---------------------------------------------------------------------------------------------
# lower, plan, emit


def lower(graph: Graph, precision: str = "int8", *, patched: bool = False) -> LoweredModel:
    """Every node → a C kernel call (or a view), with the fusions; `precision` ``float32`` lowers a
    float model onto the float32 kernels as it is (no quantization). `patched`: a graph from
    :func:`patch`, whose code reads the model input in place."""
    model = lower_graph(graph, precision)
    model.input_in_place = patched
    return model


def patch(graph: Graph, patch: str | PatchSpec | None = "off", *, budget: int | None = None,
          precision: str = "int8", inplace: bool | None = None) -> tuple[Graph, PatchPlan | None]:
    """Patch-based inference (:mod:`edgekit.patch`): `patch` ``off`` gives the graph as it is;
    ``auto`` the split and grid with the smallest arena (with a `budget`, the least recompute that
    fits it; None when layer by layer is already as small); a :class:`PatchSpec` (``3x3@5``) that
    plan. In-place depthwise (:func:`edgekit.patch.inplace_depthwise`, `inplace`): by default only
    when the plan does not meet the `budget` without it (the in-place kernel is the portable one:
    on mobilenetv2_64 it saved 656 B for +32 % instructions, bench/results/patches.md); True: where
    it shrinks the arena; False: never. Gives the graph to lower and the plan."""
    mode = parse_patch(patch) if isinstance(patch, str) or patch is None else patch
    if mode == "off":
        return graph, None
    if precision != "int8":
        raise EdgekitError("--patch runs int8 models; drop --precision float32 or --patch")

    def arena(g: Graph) -> int:
        return plan_memory(lower(g, patched=True)).arena_bytes

    if mode == "auto":
        found = choose_patches(graph, arena, budget, plan_memory(lower(graph)).arena_bytes)
    else:
        assert isinstance(mode, PatchSpec)
        found = plan_patches(graph, mode)
        found.arena_bytes = arena(found.graph)
    if found is None:
        return graph, None
    if inplace is True or (inplace is None and budget is not None and found.arena_bytes > budget):
        marked, found.inplace_nodes = inplace_depthwise(found.graph, input_in_place=True)
        if found.inplace_nodes:
            found.graph = marked
            found.arena_bytes = arena(marked)
    return found.graph, found


def plan(model: LoweredModel) -> MemoryPlan:
    """Offsets of every activation and scratch buffer in one static arena."""
    return plan_memory(model)


def emit(model: LoweredModel, memory: MemoryPlan, out_dir: Path | str, name: str, *,
         force: bool = False) -> GeneratedLibrary:
    """Render the C library (into a folder edgekit owns: see :class:`edgekit.outputs.OwnedFolder`)."""
    return emit_library(model, memory, Path(out_dir), name, force=force)


def generate(model: ModelSource, out_dir: Path | str, name: str | None = None, *,
             force: bool = False, precision: str = "int8", patch_mode: str | PatchSpec | None = "off",
             patch_budget: int | None = None, inplace: bool | None = None) -> GeneratedLibrary:
    """lower → plan → emit: the C library of a model (file, bytes or graph) in `out_dir`.

    `precision` ``int8`` (the default) generates a quantized model; ``float32`` a float model as it
    is, on the float32 kernels (the library then takes and returns float32). `patch_mode`: patch-based
    inference of the first stage (:func:`patch`; `patch_budget`: the arena bytes ``auto`` aims under;
    `inplace`: in-place depthwise, by default only where the budget needs it)."""
    check_name(name or _default_name(model))
    OwnedFolder(out_dir, force=force, what="library folder")  # refuse a user's folder before any work
    graph = load(model)
    if patch_mode not in (None, "off"):
        if precision != "int8" or not graph.is_quantized:
            raise EdgekitError("--patch runs quantized int8 models: quantize the model first, or drop --patch")
        graph, found = patch(graph, patch_mode, budget=patch_budget, inplace=inplace)
        if found is not None:
            lowered = lower(graph, patched=True)
            return emit(lowered, plan(lowered), out_dir, name or _default_name(model), force=force)
    try:
        lowered = lower(graph, precision)
    except UnsupportedOpError as err:
        if precision != "int8" or graph.is_quantized or any(graph.tensors[t].dtype != "float32"
                                                             for t in graph.inputs + graph.outputs):
            raise
        raise UnsupportedOpError(f"{err}. {graph.name!r} is a float model and edgekit's kernels are int8: "
                                 "`edgekit quantize MODEL --calib DATA -o OUT.tflite` makes it deployable "
                                 "(or --precision float32 runs it unquantized on the float32 kernels)") from None
    return emit(lowered, plan(lowered), out_dir, name or _default_name(model), force=force)


def patch_budget(graph: Graph, board: Board, emulated: bool) -> int | None:
    """The arena bytes `board` leaves a patch-based `graph` (:func:`edgekit.fit.arena_budget`),
    counting a tick per layer of a 3×3 patch stage."""
    from edgekit.fit import arena_budget

    io_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs + graph.outputs)
    return arena_budget(board, io_bytes=io_bytes, num_layers=9 * len(graph.nodes), emulated=emulated)


def patch_proposal(graph: Graph, board: Board, emulated: bool) -> str:
    """For a model too big for `board` layer by layer: the ``--patch`` plan that fits, as advice."""
    if not graph.is_quantized:
        return ""
    budget = patch_budget(graph, board, emulated)
    try:
        _, found = patch(graph, "auto", budget=budget)
    except (EdgekitError, UnsupportedOpError):
        return ""
    if found is None:
        return ""
    fits = budget is None or found.arena_bytes <= budget
    return (f"With patch-based inference (--patch auto: {found.spec}, +{found.recompute_macs:,} MACs recomputed) "
            f"the arena is {found.arena_bytes:,} B{' and it fits' if fits else ', still too big'}.")


def _default_name(model: ModelSource) -> str:
    return default_name(Path(model)) if isinstance(model, (str, Path)) else "model"


# ---------------------------------------------------------------------------------------------
# build (host)


def build_host(lib: GeneratedLibrary, build_dir: Path | None = None) -> HostModel:
    """The library compiled with the host C compiler and loaded into this process."""
    return HostModel.from_library(lib, build_dir)


def compile_model(model: ModelSource, name: str = "model", work_dir: Path | None = None, *,
                  precision: str = "int8", patch_mode: str | PatchSpec | None = "off") -> HostModel:
    """load → lower → plan → emit → build: the model's generated C, loaded for host mode
    (`precision` as in :func:`generate`)."""
    graph = load(model, name)
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgekit-")
        work_dir = Path(tmp.name)
    lib = generate(graph, work_dir / "lib", name, precision=precision, patch_mode=patch_mode)
    host = build_host(lib, work_dir / "build")
    if tmp is not None:
        host._tmpdir = tmp  # keep the folder as long as the model is loaded
    return host


# ---------------------------------------------------------------------------------------------
# evaluate (run on the host + accuracy)


@dataclass
class EvalResult:
    top1: float  # percent
    samples: int
    correct: int
    per_class: dict[str, float]  # class name -> percent
    seconds: float
    runtime: str  # "float (torch, cpu)", "int8 (generated C, host)" or "float32 (generated C, host)"
    predictions: np.ndarray
    preprocess: str = ""  # the preprocessing assumption (describe_preprocess)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "samples": self.samples, "correct": self.correct,
                "per_class": self.per_class, "seconds": round(self.seconds, 3), "runtime": self.runtime,
                "preprocess": self.preprocess, "warnings": self.warnings}


def evaluate(model: Path | str, data: Path | str | Dataset, *, limit: int | None = None, seed: int = 0,
             device: str | None = None, pixel_scale: Any = None, pixel_offset: Any = None,
             work_dir: Path | None = None, precision: str = "int8",
             patch_mode: str | PatchSpec = "off") -> EvalResult:
    """Top-1 of a float model (float executor) or an int8 model (its generated C, host mode) on
    labelled data; with `precision` ``float32`` a float model runs its float32 generated C (host
    mode) instead of the float executor."""
    p = Path(model)
    ds = data if isinstance(data, Dataset) else load_dataset(data, limit=limit, seed=seed)
    if ds.labels is None:
        raise DataError(f"{ds.source} has no labels; eval needs labelled data")
    t0 = time.perf_counter()
    graph = load_model(p)
    n_out = _num_outputs(tuple(graph.tensors[graph.outputs[0]].shape))
    check_labels(ds.labels, n_out, ds.source)
    pre = _pixel_override(preprocess_for(graph), pixel_scale, pixel_offset)
    x = pre.apply(ds.images, source=ds.source)
    if patch_mode != "off" and not graph.is_quantized:
        raise EdgekitError("--patch runs quantized int8 models: quantize the model first, or drop --patch")
    if precision == "float32":
        host = compile_model(graph, name="evalmodel", work_dir=work_dir, precision="float32")
        logits = host.run(x)
        runtime = "float32 (generated C, host)"
    elif graph.is_quantized:
        host = compile_model(graph, name="evalmodel", work_dir=work_dir, patch_mode=patch_mode)
        logits = host.run(x)
        runtime = "int8 (generated C, host)"
    else:
        require_torch("evaluate float models")
        from edgekit.quant.float_exec import FloatExecutor

        ex = FloatExecutor(graph, device)
        (logits,) = ex.run(x)
        runtime = f"float (torch, {ex.device.type})"
    preds = np.asarray(logits).reshape(len(ds), -1).argmax(axis=1)
    labels = np.asarray(ds.labels)
    correct = int((preds == labels).sum())
    names = ds.class_names or [str(c) for c in range(int(labels.max()) + 1)]
    per_class = {}
    for c, cname in enumerate(names):
        m = labels == c
        if m.any():
            per_class[cname] = round(100.0 * float((preds[m] == c).mean()), 2)
    top1 = round(100.0 * correct / len(ds), 2)
    warnings = [w for w in (class_names_mismatch(ds.class_names, n_out, ds.source),) if w]
    bound = chance_bound(n_out, len(ds))
    if bound is not None and top1 <= bound:
        warnings.append(f"top-1 {top1:.1f} % is chance level for {n_out} classes: the inputs are probably not what "
                        "the model expects (check the preprocessing: --pixel-scale/--pixel-offset)")
    return EvalResult(top1=top1, samples=len(ds), correct=correct, per_class=per_class,
                      seconds=time.perf_counter() - t0, runtime=runtime, predictions=preds,
                      preprocess=describe_preprocess(graph, pre), warnings=warnings)


# ---------------------------------------------------------------------------------------------
# export and the arm64 build


def export_model(model: Path | str, output: Path | str | None = None, *, calib: Path | str | None = None,
                 num_calib: int = 1000, seed: int = 0, pixel_scale: Any = None,
                 pixel_offset: Any = None) -> ExportResult:
    """A quantized model file (any format), or a float one quantized on the way with `calib`, as
    full-int8 TFLite for LiteRT; written atomically to `output` when given."""
    p = Path(model)
    inputs = [p, None if calib is None else Path(calib)]
    if output is not None:
        check_output_file(output, inputs)  # before the work
    if calib is not None:
        graph = quantize(p, calib, num_calib=num_calib, seed=seed, pixel_scale=pixel_scale,
                         pixel_offset=pixel_offset).graph
    else:
        graph = load_model(p)
    result = export_graph(graph)
    if output is not None:
        write_file(output, result.tflite, inputs)
    return result


def check_arm64(model: ModelSource, inputs: np.ndarray, work_dir: Path | None = None,
                name: str = "model") -> CrossCheck:
    """The generated library cross-compiled for arm64 Linux, run under qemu-aarch64 and compared
    with host mode bit for bit."""
    from edgekit.toolchain.cross import check_bit_exact

    with tempfile.TemporaryDirectory(prefix="edgekit-a64-") as tmp:
        work = Path(work_dir) if work_dir else Path(tmp)
        lib = generate(model, work / "lib", name)
        return check_bit_exact(lib, inputs, work)


# ---------------------------------------------------------------------------------------------
# run on the device and validate


@dataclass
class Samples:
    inputs: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    source: str = "random"
    raw: np.ndarray | None = None  # the samples before preprocessing (for the float model)


@dataclass
class DeployOutcome:
    result: ValidationResult
    library: GeneratedLibrary
    run: Any  # edgekit.device.session.DeviceRun
    samples: Samples
    extra: dict[str, Any] = field(default_factory=dict)
    _tmpdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)  # the work folder, when temporary

    def to_json(self) -> dict[str, Any]:
        data = self.result.to_json()
        data.update(self.extra)
        return data


def model_samples(info: ModelInfo, pre: Preprocess, data: Path | None, limit: int | None,
                  seed: int = 0) -> Samples:
    """Model-ready inputs: `data` preprocessed as the model's metadata says, or seeded random
    inputs over the input dtype's range."""
    per_sample = tuple(info.input.shape[1:]) if len(info.input.shape) > 1 and info.input.shape[0] == 1 \
        else tuple(info.input.shape)
    if data is None:
        return Samples(inputs=random_inputs(per_sample, info.input.dtype, limit or DEFAULT_RANDOM_SAMPLES, seed))
    ds: Dataset = load_dataset(data, limit=limit, seed=seed)
    check_labels(ds.labels, _num_outputs(info.output.shape), ds.source)
    x = pre.apply(ds.images, source=ds.source)
    return Samples(inputs=x.reshape((len(x), *per_sample)), labels=ds.labels, class_names=ds.class_names,
                   source=str(data), raw=ds.images)


def _num_outputs(shape: tuple[int, ...]) -> int:
    """Values one sample's output holds (a classifier's class count)."""
    return int(np.prod(shape[1:] if len(shape) > 1 and shape[0] == 1 else shape))


def describe_preprocess(graph: Graph, pre: Preprocess) -> str:
    """The one-line preprocessing assumption every summary prints."""
    return describe(pre, recorded=preprocess_recorded(graph))


def deploy(model: Path, board: Board, *, emulate: bool, port: str | None = None, data: Path | None = None,
           limit: int | None = None, per_layer: bool = False, work_dir: Path | None = None,
           name: str | None = None, float_outputs: np.ndarray | None = None,
           progress: bool = True, calib: Path | None = None, num_calib: int = 1000,
           float_model: Path | None = None, pixel_scale: Any = None,
           pixel_offset: Any = None, force: bool = False, precision: str = "int8",
           patch_mode: str | PatchSpec = "off") -> DeployOutcome:
    """Deploy `model` (int8) to `board` and validate it: generate → firmware → device (or QEMU) →
    stream samples → compare with host mode (and the float model). With `calib`, `model` is a
    float model quantized on the way. The float model (`model` with `calib`, else `float_model`)
    fills the report's float accuracy on the same samples. `work_dir` is a folder edgekit owns
    (new, empty or edgekit's; `force` admits another one, whose files edgekit never touches);
    without it a temporary folder lives as long as the outcome.

    With `precision` ``float32``, `model` is a float model deployed unquantized on the float32
    kernels (:func:`_deploy_float32`): the device is compared with host mode within
    :data:`FLOAT32_TOLERANCE` (host gcc and arm gcc/newlib may differ in the last bits), and with
    the float executor when torch is installed. `patch_mode`: patch-based inference of the first
    stage (:func:`patch`; ``auto`` aims under the arena the board leaves); a model that does not fit
    layer by layer is refused with the patch plan that would fit."""
    from edgekit.device.session import check_port, run_library
    from edgekit.errors import DoesNotFitError

    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgekit-deploy-")
        work_dir = Path(tmp.name)
    work_folder = OwnedFolder(work_dir, force=force, what="work folder")
    work = work_folder.path
    if not emulate:
        check_port(board, port)  # before anything is built
    source = Path(model)
    quantized_info: dict[str, Any] = {}
    if precision == "float32":
        return _deploy_float32(source, board, work_folder, emulate=emulate, port=port, data=data, limit=limit,
                               per_layer=per_layer, name=name, float_outputs=float_outputs, progress=progress,
                               calib=calib, float_model=float_model, pixel_scale=pixel_scale,
                               pixel_offset=pixel_offset, tmp=tmp)
    if calib is not None:
        if float_model is not None:
            raise DataError("give either --calib (MODEL is the float model) or --float-model, not both")
        graph, quantized_info = _quantize_for_deploy(source, calib, work_folder, num_calib=num_calib,
                                                     pixel_scale=pixel_scale, pixel_offset=pixel_offset)
        float_model = source
    else:
        graph = None if source.suffix.lower() in TORCH_SUFFIXES else load_model(source)
    if graph is None or not graph.is_quantized:
        raise DataError(f"{source} is a float model; give --calib DATA to quantize it on the way "
                        "(or quantize it first with `edgekit quantize`)")
    if float_model is not None and calib is None:
        _check_float_model_matches(load_float_model(float_model).graph, graph, float_model, source)
    lib = generate(graph, work_folder.claim("lib", "deploy"), name or default_name(source), patch_mode=patch_mode,
                   patch_budget=patch_budget(graph, board, emulate))
    samples = model_samples(lib.info, preprocess_for(graph), data, limit)
    if float_outputs is None and float_model is not None:
        float_outputs = float_model_outputs(float_model, samples, lib.info, pixel_scale=pixel_scale,
                                            pixel_offset=pixel_offset)
    try:
        run = run_library(lib, board, samples.inputs, emulate, port, work_folder.claim("firmware", "deploy"),
                          per_layer=per_layer, progress=progress)
    except DoesNotFitError as err:
        proposal = patch_proposal(graph, board, emulate) if patch_mode == "off" else ""
        if not proposal:
            raise
        raise DoesNotFitError(f"{err}\n{proposal} Deploy with --patch auto.") from None
    host = build_host(lib, work_folder.claim("host", "deploy")).run(samples.inputs)
    flash_lim, sram_lim = board.limits(emulate)
    out = lib.info.output
    result = ValidationResult.compute(
        run.outputs.reshape(host.shape), host_outputs=host, float_outputs=float_outputs, labels=samples.labels,
        class_names=samples.class_names, output_scale=out.scale, output_zero_point=out.zero_point,
        ticks=run.ticks, tick_unit=run.info.tick_unit, clock_hz=run.info.clock_hz or None,
        layer_ticks=run.layer_ticks, layer_names=list(run.layer_names), rom_bytes=run.rom_bytes,
        ram_bytes=run.ram_bytes, arena_bytes=lib.info.arena_bytes, board_flash_bytes=flash_lim,
        board_sram_bytes=sram_lim, board=board.name, emulated=emulate,
        preprocess=describe_preprocess(graph, preprocess_for(graph)) if data is not None else None,
    )
    extra = {
        "model": quantized_info.get("path", str(model)), "model_hash": f"0x{lib.info.model_hash:08x}",
        "data": samples.source, "weights_bytes": lib.info.weights_bytes, "macs": None,
        "build_seconds": run.build_seconds, "link_recoveries": run.recoveries, "work_dir": str(work),
    }
    if quantized_info:
        extra["quantized"] = quantized_info
    if float_model is not None:
        extra["float_model"] = str(float_model)
    try:
        from edgekit.analyze import analyze_graph

        extra["macs"] = analyze_graph(graph)[0].macs
    except EdgekitError:  # MACs are informative only
        pass
    return DeployOutcome(result=result, library=lib, run=run, samples=samples, extra=extra, _tmpdir=tmp)


#: float32 deployments: the device may differ from host mode by at most this much, relative to the
#: largest host output magnitude (at least 1): the same C, but x86 gcc + glibc on the host and
#: arm-none-eabi-gcc + newlib on the device (expf/erff/tanhf may round differently)
FLOAT32_TOLERANCE = 1e-3


def _deploy_float32(source: Path, board: Board, work_folder: OwnedFolder, *, emulate: bool, port: str | None,
                    data: Path | None, limit: int | None, per_layer: bool, name: str | None,
                    float_outputs: np.ndarray | None, progress: bool, calib: Path | None,
                    float_model: Path | None, pixel_scale: Any, pixel_offset: Any,
                    tmp: tempfile.TemporaryDirectory | None) -> DeployOutcome:
    """:func:`deploy` of a float model with ``precision="float32"`` (no quantization)."""
    from edgekit.device.session import run_library

    if calib is not None:
        raise DataError("--calib quantizes MODEL, --precision float32 deploys it unquantized: give one of them")
    if float_model is not None:
        raise DataError("--float-model names the float model of an int8 MODEL; with --precision float32 MODEL is "
                        "the float model itself: drop --float-model")
    fm = load_float_model(source, pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    graph = fm.graph
    lib = generate(graph, work_folder.claim("lib", "deploy"), name or default_name(source), precision="float32")
    samples = model_samples(lib.info, fm.preprocess, data, limit)
    if float_outputs is None:
        float_outputs = _float_executor_outputs(graph, samples.inputs)
    run = run_library(lib, board, samples.inputs, emulate, port, work_folder.claim("firmware", "deploy"),
                      per_layer=per_layer, progress=progress)
    host = build_host(lib, work_folder.claim("host", "deploy")).run(samples.inputs)
    flash_lim, sram_lim = board.limits(emulate)
    result = ValidationResult.compute(
        run.outputs.reshape(host.shape), host_outputs=host, float_outputs=float_outputs, labels=samples.labels,
        class_names=samples.class_names, ticks=run.ticks, tick_unit=run.info.tick_unit,
        clock_hz=run.info.clock_hz or None, layer_ticks=run.layer_ticks, layer_names=list(run.layer_names),
        rom_bytes=run.rom_bytes, ram_bytes=run.ram_bytes, arena_bytes=lib.info.arena_bytes,
        board_flash_bytes=flash_lim, board_sram_bytes=sram_lim, board=board.name, emulated=emulate,
        preprocess=describe_preprocess(graph, fm.preprocess) if data is not None else None,
        float_tolerance=FLOAT32_TOLERANCE,
    )
    extra: dict[str, Any] = {
        "model": str(source), "model_hash": f"0x{lib.info.model_hash:08x}", "precision": "float32",
        "data": samples.source, "weights_bytes": lib.info.weights_bytes, "macs": None,
        "build_seconds": run.build_seconds, "link_recoveries": run.recoveries, "work_dir": str(work_folder.path),
    }
    try:
        from edgekit.analyze import analyze_graph

        extra["macs"] = analyze_graph(graph, "float32")[0].macs
    except EdgekitError:  # MACs are informative only
        pass
    return DeployOutcome(result=result, library=lib, run=run, samples=samples, extra=extra, _tmpdir=tmp)


def _float_executor_outputs(graph: Graph, inputs: np.ndarray) -> np.ndarray | None:
    """The float executor's (torch) outputs on model-ready float inputs; None without torch."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from edgekit.quant.float_exec import FloatExecutor

    t = graph.tensors[graph.inputs[0]]
    x = np.asarray(inputs, dtype=np.float32).reshape((len(inputs), *t.shape[1:]))
    (y,) = FloatExecutor(graph, "cpu").run(x)
    return np.asarray(y, dtype=np.float32).reshape(len(inputs), -1)


def _check_float_model_matches(float_graph: Graph, graph: Graph, float_path: Path, path: Path) -> None:
    """Before anything is built: the float model must take the int8 model's input and give its
    output (same element counts), or its accuracy says nothing about the int8 model."""
    def numel(g: Graph, tid: int) -> int:
        return g.tensors[tid].numel

    problems = []
    if len(float_graph.inputs) != len(graph.inputs) or len(float_graph.outputs) != len(graph.outputs):
        problems.append(f"{len(float_graph.inputs)}→{len(float_graph.outputs)} inputs→outputs against "
                        f"{len(graph.inputs)}→{len(graph.outputs)}")
    else:
        a, b = numel(float_graph, float_graph.inputs[0]), numel(graph, graph.inputs[0])
        if a != b:
            problems.append(f"its input has {a} values, the int8 model's {b}")
        a, b = numel(float_graph, float_graph.outputs[0]), numel(graph, graph.outputs[0])
        if a != b:
            problems.append(f"its output has {a} values, the int8 model's {b}")
    if problems:
        raise DataError(f"--float-model {float_path} is not the model {path} was quantized from "
                        f"({'; '.join(problems)}); give the matching float model")


def _quantize_for_deploy(model: Path, calib: Path, work: OwnedFolder, *, num_calib: int = 1000,
                         pixel_scale: Any = None, pixel_offset: Any = None) -> tuple[Graph, dict[str, Any]]:
    """PTQ with `edgekit quantize`'s defaults; the int8 model is also written into the work folder."""
    from edgekit.quant.ptq import PTQConfig

    res = quantize(model, calib, num_calib=num_calib, config=PTQConfig(progress=False),
                   pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    out = write_file(work.claim(f"{default_name(model)}_int8.tflite", "deploy"), res.tflite, inputs=[model])
    cal = res.calibration
    return res.graph, {"from": str(model), "calib": str(calib), "calibration_samples": cal.samples,
                       "calibration_seconds": round(cal.seconds, 3), "device": str(cal.device), "path": str(out)}


def float_model_outputs(float_model: Path, samples: Samples, info: ModelInfo, *, pixel_scale: Any = None,
                        pixel_offset: Any = None) -> np.ndarray:
    """The float model's outputs on the deployed samples: the raw data through the float model's
    preprocessing, or (random inputs) the int8 inputs dequantized with the input's scale/zero point."""
    require_torch("run the float model")
    from edgekit.quant.float_exec import FloatExecutor

    fm = load_float_model(float_model, pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    t = fm.graph.tensors[fm.graph.inputs[0]]
    if samples.raw is not None:
        x = fm.preprocess.apply(samples.raw, source=samples.source)
    else:
        x = (samples.inputs.astype(np.float32) - float(info.input.zero_point)) * float(info.input.scale)
    x = np.asarray(x, dtype=np.float32).reshape((len(samples.inputs), *t.shape[1:]))
    (y,) = FloatExecutor(fm.graph, "cpu").run(x)
    return np.asarray(y, dtype=np.float32).reshape(len(samples.inputs), -1)


@dataclass
class DeviceValidation:
    result: ValidationResult
    device: Any  # edgekit.device.protocol.DeviceInfo
    model_hash: int


def validate_device(board: Board, port: str, model: Path | None = None, data: Path | None = None,
                    limit: int | None = None, on_hello: Any = None, precision: str = "int8") -> DeviceValidation:
    """Validate an already flashed board: HELLO (and, with `model`, check it runs that model),
    stream samples, compare with host mode when the model is known. `on_hello(info)` is called
    with the device's answer before streaming. `precision` ``float32``: `model` is a float model
    the board runs unquantized (deployed with ``--precision float32``); the device is then checked
    against host mode within the float32 tolerance instead of bit for bit."""
    from edgekit.device.session import check_device_model, open_device, stream

    if precision == "float32" and model is None:
        raise DataError("--precision float32 says how the --model the board runs was generated: give --model")
    with contextlib.ExitStack() as stack:
        lib = None
        if model is not None:
            if precision == "float32":
                fm = load_float_model(model)
                graph, pre = fm.graph, fm.preprocess
            else:
                graph = load_model(model)
                pre = preprocess_for(graph)
            lib = generate(graph, Path(stack.enter_context(tempfile.TemporaryDirectory())) / "lib",
                           default_name(model), precision=precision)
            pre_text = describe_preprocess(graph, pre)
        with open_device(board, None, False, port) as client:
            info = client.hello()
            if on_hello is not None:
                on_hello(info)
            if lib is not None:
                check_device_model(info, lib, port)
                tinfo = lib.info
            else:
                tinfo = ModelInfo(name=info.model_name, input=_tensor(info.input), output=_tensor(info.output),
                                  arena_bytes=info.arena_bytes, weights_bytes=0, layer_names=[],
                                  model_hash=info.model_hash)
                pre = Preprocess.for_model(tinfo.input.shape, tinfo.input.dtype, tinfo.input.scale,
                                           tinfo.input.zero_point)
                pre_text = describe(pre, recorded=False)
            samples = model_samples(tinfo, pre, data, limit)
            outs, ticks, _ = stream(client, samples.inputs)
        host = None if lib is None else build_host(lib).run(samples.inputs)
    result = ValidationResult.compute(
        outs.reshape((len(samples.inputs), -1)), host_outputs=None if host is None else host.reshape(len(host), -1),
        labels=samples.labels, class_names=samples.class_names, output_scale=tinfo.output.scale,
        output_zero_point=tinfo.output.zero_point, ticks=ticks, tick_unit=info.tick_unit,
        clock_hz=info.clock_hz or None, arena_bytes=info.arena_bytes, board=info.board, emulated=info.emulated,
        preprocess=pre_text if data is not None else None,
        float_tolerance=FLOAT32_TOLERANCE if precision == "float32" else None,
    )
    return DeviceValidation(result=result, device=info, model_hash=info.model_hash)


def _tensor(spec: Any) -> TensorInfo:
    return TensorInfo(shape=tuple(spec.shape), dtype=spec.dtype, scale=spec.scale, zero_point=spec.zero_point)


@contextlib.contextmanager
def temporary_work_dir(work_dir: Path | None, prefix: str) -> Iterator[Path]:
    """`work_dir` when given, else a temporary folder removed afterwards."""
    if work_dir is not None:
        yield Path(work_dir)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
