"""Bit-exactness of every int8 kernel vs the TFLite Micro wheel on seeded random single-op models.

Each model (from ``tests/modelgen.py``) goes tflite bytes → edgekit host library → outputs,
compared element for element with TFLM's reference kernels.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from edgekit.tflite.writer import ModelSpec, build_tflite  # noqa: E402
from tests.modelgen import OP_GENERATORS  # noqa: E402

SEEDS = range(20)
N_INPUTS = 6

# ops whose generators need multi-input models are covered by test_kernels_binary.py
SINGLE_INPUT_OPS = [
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "SOFTMAX",
    "LOGISTIC",
    "MEAN",
    "PAD",
    "RELU",
    "RELU6",
    "QUANTIZE",
    "DEQUANTIZE",
    "RESHAPE",
    "SQUEEZE",
]


def _tflm(buf: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(buf, arena_size=max(len(buf) * 10, 1 << 20))
    outs = []
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)).copy())
    return outs


def _host(buf: bytes, xs: list[np.ndarray], out_dtype: np.dtype, out_shape: tuple[int, ...]) -> list[np.ndarray]:
    from edgekit.pipeline import compile_model

    hm = compile_model(buf, name="k")
    run = getattr(hm._handle, f"ek_{hm.info.name}_run")
    run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    run.restype = ctypes.c_int
    outs = []
    for x in xs:
        x = np.ascontiguousarray(x)
        y = np.zeros(out_shape, dtype=out_dtype)
        assert run(x.ctypes.data, y.ctypes.data) == 0
        outs.append(y)
    return outs


def random_input(spec: ModelSpec, rng: np.random.Generator) -> np.ndarray:
    t = spec.tensors[spec.inputs[0]]
    if t.dtype == "float32":
        # wide enough to saturate most quantized ranges, plus exact ties of the scale
        x = rng.uniform(-8.0, 8.0, size=t.shape).astype(np.float32)
        if t.shape and rng.random() < 0.5:
            s = np.float32(spec.tensors[spec.outputs[0]].scale[0])  # type: ignore[index]
            k = rng.integers(-300, 300, size=t.shape)
            x = np.where(rng.random(t.shape) < 0.3, ((k + 0.5) * s).astype(np.float32), x).astype(np.float32)
        return x
    return rng.integers(-128, 128, size=t.shape).astype(t.dtype)


def assert_bit_exact(spec: ModelSpec, seed: int, n_inputs: int = N_INPUTS) -> None:
    buf = build_tflite(spec)
    rng = np.random.default_rng(10_000 + seed)
    xs = [random_input(spec, rng) for _ in range(n_inputs)]
    # edge inputs: all min, all max
    t_in = spec.tensors[spec.inputs[0]]
    if t_in.dtype == "int8":
        xs += [np.full(t_in.shape, -128, np.int8), np.full(t_in.shape, 127, np.int8)]
    ref = _tflm(buf, xs)
    t_out = spec.tensors[spec.outputs[0]]
    got = _host(buf, xs, ref[0].dtype, tuple(ref[0].shape))
    for k, (r, g) in enumerate(zip(ref, got, strict=True)):
        assert r.dtype == g.dtype
        if r.dtype == np.float32:
            same = np.array_equal(r.view(np.uint32), g.view(np.uint32))
        else:
            same = np.array_equal(r, g)
        if not same:
            diff = np.argwhere(r != g)
            raise AssertionError(
                f"{spec.ops[-1].op} seed {seed} input {k}: {len(diff)} of {r.size} differ "
                f"(first at {diff[0].tolist()}: tflm {r[tuple(diff[0])]} edgekit {g[tuple(diff[0])]}); "
                f"output {t_out.shape}"
            )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", SINGLE_INPUT_OPS)
def test_single_op_bit_exact(op: str, seed: int) -> None:
    spec = OP_GENERATORS[op](np.random.default_rng(seed))
    assert_bit_exact(spec, seed)


def _fc_scales_where_product_precision_matters(rng: np.random.Generator) -> tuple[float, float, float]:
    from edgekit import numerics as tm

    acc = np.arange(-127, 128).reshape(-1, 1) * np.arange(-128, 128).reshape(1, -1)
    while True:
        a, b = (float(np.float32(v)) for v in 10 ** rng.uniform(-3, 0, size=2))
        c = float(np.float32(a * b * 10 ** rng.uniform(1.2, 2.3)))
        mf = tm.quantize_multiplier(float(np.float32(a) * np.float32(b)) / c)
        md = tm.quantize_multiplier(a * b / c)
        if mf == md:
            continue
        of = np.clip(tm.multiply_by_quantized_multiplier_np(acc, *mf), -128, 127)
        od = np.clip(tm.multiply_by_quantized_multiplier_np(acc, *md), -128, 127)
        if not np.array_equal(of, od):
            return a, b, c


@pytest.mark.parametrize("seed", range(4))
def test_fc_per_tensor_scale_product_precision(seed: int) -> None:
    """Per-tensor FC on scales where a float32 vs double s_in·s_w product changes outputs;
    every int8 input times every weight value is exercised (256 batch rows × 255 outputs)."""
    from edgekit.tflite.writer import OpSpec, TensorSpec

    a, b, c = _fc_scales_where_product_precision_matters(np.random.default_rng(seed))
    w = np.arange(-127, 128, dtype=np.int8).reshape(255, 1)
    bias = seed % 2 == 1
    tensors = [
        TensorSpec("x", (256, 1), "int8", scale=[a], zero_point=[0]),
        TensorSpec("w", (255, 1), "int8", data=w, scale=[b], zero_point=[0]),
        TensorSpec("y", (256, 255), "int8", scale=[c], zero_point=[0]),
        TensorSpec("b", (255,), "int32", data=np.zeros(255, np.int32), scale=[a * b], zero_point=[0]),
    ]
    op = OpSpec("FULLY_CONNECTED", [0, 1, 3 if bias else -1], [2], {"fused_activation_function": "NONE"})
    spec = ModelSpec(tensors, [op], [0], [2])
    buf = build_tflite(spec)
    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    ref = _tflm(buf, [x])[0]
    got = _host(buf, [x], ref.dtype, tuple(ref.shape))[0]
    assert np.array_equal(ref, got)
