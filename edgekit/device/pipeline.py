"""`edgekit deploy` end to end: model → C library → firmware → board/QEMU → validation result.

Data comes from `--data` (preprocessed by the model's deployment description) or seeded random
inputs; the same inputs run through host mode (the same C on this machine) so every device
output is checked bit for bit, and through the float model when one is given.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.host import HostModel
from edgekit.data import Dataset, Preprocess, load_dataset, random_inputs
from edgekit.deployment import preprocess_for
from edgekit.device.deploy import DeviceRun, run_library
from edgekit.emit import GeneratedLibrary, ModelInfo, default_name, emit_library
from edgekit.errors import DataError
from edgekit.frontends.loader import load_model
from edgekit.targets import Board
from edgekit.validate import ValidationResult

DEFAULT_RANDOM_SAMPLES = 10


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
    run: DeviceRun
    samples: Samples
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = self.result.to_json()
        data.update(self.extra)
        return data


def model_samples(info: ModelInfo, pre: Preprocess, data: Path | None, limit: int | None,
                  seed: int = 0) -> Samples:
    """Model-ready inputs: `data` preprocessed as the model's deployment description says, or
    seeded random inputs over the input dtype's range."""
    per_sample = tuple(info.input.shape[1:]) if len(info.input.shape) > 1 and info.input.shape[0] == 1 \
        else tuple(info.input.shape)
    if data is None:
        return Samples(inputs=random_inputs(per_sample, info.input.dtype, limit or DEFAULT_RANDOM_SAMPLES, seed))
    ds: Dataset = load_dataset(data, limit=limit, seed=seed)
    if len(ds) == 0:
        raise DataError(f"{data} holds no samples")
    x = pre.apply(ds.images)
    return Samples(inputs=x.reshape((len(x), *per_sample)), labels=ds.labels, class_names=ds.class_names,
                   source=str(data), raw=ds.images)


def deploy_model(model: Path, board: Board, *, emulate: bool, port: str | None = None, data: Path | None = None,
                 limit: int | None = None, per_layer: bool = False, work_dir: Path | None = None,
                 name: str | None = None, float_outputs: np.ndarray | None = None,
                 progress: bool = True, calib: Path | None = None, num_calib: int = 1000,
                 float_model: Path | None = None, pixel_scale: Any = None,
                 pixel_offset: Any = None) -> DeployOutcome:
    """Deploy `model` (int8) to `board`; with `calib`, `model` is a float model that is quantized
    on the way. The float model (`model` with `calib`, else `float_model`) fills the report's
    float accuracy on the same samples."""
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="edgekit-deploy-"))
    source = Path(model)
    quantized_info: dict[str, Any] = {}
    if calib is not None:
        if float_model is not None:
            raise DataError("give either --calib (MODEL is the float model) or --float-model, not both")
        model, quantized_info = quantize_for_deploy(source, calib, work, num_calib=num_calib,
                                                    pixel_scale=pixel_scale, pixel_offset=pixel_offset)
        float_model = source
    graph = load_model(model) if calib is not None or not _is_float_file(source) else None
    if graph is None or not graph.is_quantized:
        raise DataError(f"{source} is a float model; give --calib DATA to quantize it on the way "
                        "(or quantize it first with `edgekit quantize`)")
    lib_name = name or default_name(source)
    lib = emit_library(graph, work / "lib", lib_name)
    samples = model_samples(lib.info, preprocess_for(graph), data, limit)
    if float_outputs is None and float_model is not None:
        float_outputs = float_model_outputs(float_model, samples, lib.info, pixel_scale=pixel_scale,
                                            pixel_offset=pixel_offset)
    run = run_library(lib, board, samples.inputs, emulate, port, work / "firmware", per_layer=per_layer,
                      progress=progress)
    host = HostModel.from_library(lib, work / "host").run(samples.inputs)
    flash_lim, sram_lim = board.limits(emulate)
    out = lib.info.output
    result = ValidationResult.compute(
        run.outputs.reshape(host.shape), host_outputs=host, float_outputs=float_outputs, labels=samples.labels,
        class_names=samples.class_names, output_scale=out.scale, output_zero_point=out.zero_point,
        ticks=run.ticks, tick_unit=run.info.tick_unit, clock_hz=run.info.clock_hz or None,
        layer_ticks=run.layer_ticks, layer_names=list(run.layer_names), rom_bytes=run.rom_bytes,
        ram_bytes=run.ram_bytes, arena_bytes=lib.info.arena_bytes, board_flash_bytes=flash_lim,
        board_sram_bytes=sram_lim, board=board.name, emulated=emulate,
    )
    extra = {
        "model": str(model), "model_hash": f"0x{lib.info.model_hash:08x}", "data": samples.source,
        "weights_bytes": lib.info.weights_bytes, "macs": None, "build_seconds": run.build_seconds,
        "link_recoveries": run.recoveries, "work_dir": str(work),
    }
    if quantized_info:
        extra["quantized"] = quantized_info
    if float_model is not None:
        extra["float_model"] = str(float_model)
    try:
        from edgekit.analyze import analyze_graph

        extra["macs"] = analyze_graph(graph)[0].macs
    except Exception:  # noqa: BLE001 - MACs are informative only
        pass
    return DeployOutcome(result=result, library=lib, run=run, samples=samples, extra=extra)


def _is_float_file(path: Path) -> bool:
    """A model file edgekit's int8 loader cannot read as such (PyTorch checkpoints)."""
    from edgekit.quant.api import TORCH_SUFFIXES

    return path.suffix.lower() in TORCH_SUFFIXES


def quantize_for_deploy(model: Path, calib: Path, work: Path, *, num_calib: int = 1000, pixel_scale: Any = None,
                        pixel_offset: Any = None) -> tuple[Path, dict[str, Any]]:
    """Quantize a float model with the PTQ engine (`edgekit quantize`'s defaults) into `work`."""
    from edgekit.quant.api import quantize_file
    from edgekit.quant.ptq import PTQConfig

    res = quantize_file(model, calib, num_calib=num_calib, config=PTQConfig(progress=False),
                        pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{default_name(model)}_int8.tflite"
    out.write_bytes(res.tflite)
    cal = res.calibration
    return out, {"from": str(model), "calib": str(calib), "calibration_samples": cal.samples,
                 "calibration_seconds": round(cal.seconds, 3), "device": str(cal.device), "path": str(out)}


def float_model_outputs(float_model: Path, samples: Samples, info: ModelInfo, *, pixel_scale: Any = None,
                        pixel_offset: Any = None) -> np.ndarray:
    """The float model's outputs on the deployed samples: the raw data through the float model's
    preprocessing, or (random inputs) the int8 inputs dequantized with the input's scale/zero point."""
    from edgekit.quant.api import load_float_model, require_torch

    require_torch("run the float model")
    from edgekit.quant.float_exec import FloatExecutor

    fm = load_float_model(float_model, pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    t = fm.graph.tensors[fm.graph.inputs[0]]
    if samples.raw is not None:
        x = fm.preprocess.apply(samples.raw)
    else:
        x = (samples.inputs.astype(np.float32) - float(info.input.zero_point)) * float(info.input.scale)
    x = np.asarray(x, dtype=np.float32).reshape((len(samples.inputs), *t.shape[1:]))
    (y,) = FloatExecutor(fm.graph, "cpu").run(x)
    return np.asarray(y, dtype=np.float32).reshape(len(samples.inputs), -1)
