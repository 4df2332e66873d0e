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
from edgekit.data import Dataset, Preprocess, load_dataset
from edgekit.deployment import preprocess_for
from edgekit.device.deploy import DeviceRun, run_library, seeded_inputs
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
        return Samples(inputs=seeded_inputs(per_sample, info.input.dtype, limit or DEFAULT_RANDOM_SAMPLES, seed))
    ds: Dataset = load_dataset(data, limit=limit, seed=seed)
    if len(ds) == 0:
        raise DataError(f"{data} holds no samples")
    x = pre.apply(ds.images)
    return Samples(inputs=x.reshape((len(x), *per_sample)), labels=ds.labels, class_names=ds.class_names,
                   source=str(data), raw=ds.images)


def deploy_model(model: Path, board: Board, *, emulate: bool, port: str | None = None, data: Path | None = None,
                 limit: int | None = None, per_layer: bool = False, work_dir: Path | None = None,
                 name: str | None = None, float_outputs: np.ndarray | None = None,
                 progress: bool = True) -> DeployOutcome:
    graph = load_model(model)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="edgekit-deploy-"))
    lib_name = name or default_name(model)
    lib = emit_library(graph, work / "lib", lib_name)
    samples = model_samples(lib.info, preprocess_for(graph), data, limit)
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
    try:
        from edgekit.analyze import analyze_graph

        extra["macs"] = analyze_graph(graph)[0].macs
    except Exception:  # noqa: BLE001 - MACs are informative only
        pass
    return DeployOutcome(result=result, library=lib, run=run, samples=samples, extra=extra)
