"""Host mode loads each generated library it builds, even when an earlier library of the same
model name was loaded from the same build folder in this process (the dynamic loader hands back
the first library loaded from a path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.pipeline import generate, load
from edgekit.quant.int_exec import IntExecutor
from edgekit.tflite.writer import build_tflite
from edgekit.toolchain.host import HostModel
from tests.modelgen import random_fully_connected


def test_two_models_of_one_name_in_one_build_folder_each_run_their_own(tmp_path: Path) -> None:
    build = tmp_path / "build"
    for seed in (1, 2):
        path = tmp_path / f"m{seed}.tflite"
        path.write_bytes(build_tflite(random_fully_connected(np.random.default_rng(seed))))
        graph = load(path)
        host = HostModel.from_library(generate(graph, tmp_path / f"lib{seed}", "same"), build_dir=build)
        shape = (1, *host.info.input.shape[1:]) if len(host.info.input.shape) > 1 else host.info.input.shape
        x = np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)
        want = IntExecutor(graph).run(x)[0]
        assert np.array_equal(host.run(x).reshape(-1), np.asarray(want).reshape(-1)), f"model {seed}"
