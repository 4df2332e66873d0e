"""The optimised SIMD kernels (ek_conv_dsp.c, ek_dwconv_dsp.c, fused residual ADD) against TFLite
Micro: on the host (portable emulation of the DSP intrinsics), and in QEMU on the Cortex-M4F where
the real SXTB16/SMLAD/SMMULR instructions run. The portable reference kernels stay tested too
(``kernel_set("portable")``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.frontends.tflite import load_tflite, parse_tflite
from edgekit.lower import lower_graph
from edgekit.ops._fast import kernel_set
from edgekit.pipeline import compile_model
from edgekit.plan.memory import plan_memory
from edgekit.tflite.writer import build_tflite
from tests.modelgen import Graph
from tests.oracle import tflm_run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny"
HAVE_ARM = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))


def _model(seed: int) -> bytes:
    """A small net covering the fast paths' edge cases: 3x3 same/valid convs with strides 1/2,
    in_c % 4 != 0 (staged im2col), odd channel counts and pixel counts, dilation, depthwise 3x3
    (interior unrolled path and borders) and a generic depthwise, a residual ADD fused into the
    conv that feeds it, a 1x1 conv, and per-tensor / per-channel fully connected layers."""
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    x = g.input((1, 9, 7, 3))
    a = g.conv2d(x, cout=8, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU")
    b = g.depthwise(a, multiplier=1, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU6")
    c = g.conv2d(b, cout=8, kernel=(3, 3), stride=(1, 1), padding="SAME", act="NONE")
    d = g.binary("ADD", c, a, act="RELU")  # fused into c's conv, written over a
    e = g.depthwise(d, multiplier=1, kernel=(3, 3), stride=(2, 2), padding="VALID", act="NONE")
    f = g.conv2d(e, cout=8, kernel=(1, 1), stride=(1, 1), padding="VALID", act="RELU")
    h = g.conv2d(f, cout=7, kernel=(2, 3), stride=(2, 1), dilation=(1, 1), padding="SAME", act="NONE")
    k = g.depthwise(h, multiplier=2, kernel=(3, 3), stride=(1, 1), padding="SAME", act="NONE")  # generic
    m = g.conv2d(k, cout=6, kernel=(3, 3), stride=(1, 1), dilation=(2, 1), padding="SAME", act="RELU")
    n = g.reshape(m, (1, int(np.prod(g.shape(m)))))
    o = g.fully_connected(n, units=9, per_channel=seed % 2 == 0, act="RELU")
    p = g.fully_connected(o, units=4, per_channel=seed % 2 == 1)
    return build_tflite(g.spec([x], [p], "dsp_cover"))


def _model_many_outputs(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    x = g.input((1, 6, 5, 8))
    a = g.conv2d(x, cout=9, kernel=(3, 3), stride=(2, 2), padding="SAME", act="NONE")
    b = g.conv2d(a, cout=12, kernel=(1, 1), stride=(1, 1), padding="VALID", act="RELU")
    c = g.depthwise(b, multiplier=1, kernel=(3, 3), stride=(2, 2), padding="SAME", act="RELU")
    return build_tflite(g.spec([x], [c], "dsp_cover2"))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kernels", ["fast", "portable"])
def test_host_bitexact_both_kernel_sets(seed: int, kernels: str, tmp_path: Path) -> None:
    for i, model in enumerate((_model(seed), _model_many_outputs(seed))):
        with kernel_set(kernels):
            host = compile_model(model, name=f"dsp{seed}_{i}", work_dir=tmp_path / f"{kernels}{i}")
        shape = host.info.input.shape[1:]
        batch = np.random.default_rng(seed).integers(-128, 128, size=(24, *shape), dtype=np.int8)
        assert np.array_equal(host.run(batch), tflm_run(model, batch))


def test_kernel_selection_and_fusion() -> None:
    graph = parse_tflite(_model(0))
    with kernel_set("fast"):
        fast = lower_graph(graph)
    with kernel_set("portable"):
        portable = lower_graph(graph)
    funcs = [lay.call.func for lay in fast.layers]
    assert "ek_conv2d_s8_gemm" in funcs and "ek_dwconv2d_s8_fast" in funcs
    assert "ek_dwconv2d_s8" in funcs  # depth multiplier 2: the portable kernel is the fallback
    assert "ek_add_s8" not in funcs and any("+ADD" in lay.label for lay in fast.layers)
    assert not any(lay.call.func.endswith(("_gemm", "_fast")) for lay in portable.layers)
    fused = next(lay for lay in fast.layers if "+ADD" in lay.label)
    assert fused.call.may_alias_input == (1,)
    plan = plan_memory(fast)
    assert plan.tensor_offset[fused.call.outputs[0]] == plan.tensor_offset[fused.call.inputs[1]]


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/models/mlperf_tiny")
def test_resnet8_residual_fusion_arena() -> None:
    with kernel_set("fast"):
        plan = plan_memory(lower_graph(load_tflite(SHARED / "pretrainedResnet_quant.tflite")))
    assert plan.arena_bytes <= 44_006  # 0.8 x TFLite Micro's 55,008 B


@pytest.mark.skipif(not HAVE_ARM, reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_dsp_kernels_bitexact_in_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real DSP instructions on the emulated Cortex-M4F: small models, plus ResNet-8 when
    ../shared is there, equal TFLite Micro's outputs."""
    from edgekit.device.session import run_library
    from edgekit.pipeline import generate
    from edgekit.targets import get_board

    monkeypatch.setenv("EDGEKIT_PIO_HOME", str(Path.home() / ".cache" / "edgekit" / "platformio"))
    board = get_board("nucleo")
    models: list[tuple[str, bytes | Path]] = [("dspa", _model(1)), ("dspb", _model_many_outputs(2))]
    if SHARED.exists():
        models.append(("resnet8", SHARED / "pretrainedResnet_quant.tflite"))
    for name, model in models:
        graph = parse_tflite(model) if isinstance(model, bytes) else load_tflite(model)
        with kernel_set("fast"):
            lib = generate(graph, tmp_path / name / "lib", name)
        shape = tuple(lib.info.input.shape)
        n = 2 if name == "resnet8" else 6
        x = np.random.default_rng(5).integers(-128, 128, size=(n, *shape), dtype=np.int8)
        run = run_library(lib, board, x, emulate=True, work_dir=tmp_path / name / "fw", progress=False)
        ref = tflm_run(model, x)
        assert np.array_equal(run.outputs.reshape(ref.shape), ref), name
