"""Two generated models in one program: the `--name` prefix keeps their symbols apart and they
share one copy of the runtime; each still matches TFLite Micro."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np

from edgekit.frontends.tflite import parse_tflite
from edgekit.pipeline import generate
from edgekit.tflite.writer import build_tflite
from tests.modelgen import random_chain
from tests.oracle import tflm_run


def test_two_models_share_one_runtime(tmp_path) -> None:
    models = {name: build_tflite(random_chain(np.random.default_rng(seed), n_ops=3))
              for name, seed in (("net_a", 11), ("net_b", 12))}
    libs = {name: generate(parse_tflite(data), tmp_path / name, name) for name, data in models.items()}
    runtime = {p.name: p for lib in libs.values() for p in lib.runtime_sources}  # one copy of each kernel file
    sources = [str(s) for lib in libs.values() for s in lib.sources] + [str(p) for p in runtime.values()]
    so = tmp_path / "libtwo.so"
    includes = [f"-I{d}" for d in libs["net_a"].include_dirs] + [f"-I{libs['net_b'].dir}"]
    proc = subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", *includes,
                           *sources, "-o", str(so), "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    handle = ctypes.CDLL(str(so))
    for name, lib in libs.items():
        info = lib.info
        x = np.random.default_rng(3).integers(-128, 128, size=(4, *info.input.shape[1:]), dtype=np.int8)
        out = np.zeros((4, int(np.prod(info.output.shape[1:]))), dtype=np.int8)
        run = getattr(handle, f"ek_{name}_run")
        for i in range(4):
            assert run(ctypes.c_void_p(x[i].ctypes.data), ctypes.c_void_p(out[i].ctypes.data)) == 0
        assert np.array_equal(out, tflm_run(models[name], x).reshape(4, -1))
