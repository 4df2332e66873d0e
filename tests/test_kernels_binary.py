"""ADD / SUB / MUL / CONCATENATION bit-exact vs TFLM on single-input models.

The generated library has one input, so the second operand is built from it (a QUANTIZE
to other parameters, a MEAN that broadcasts over H and W, an identity/shrinking pool) or is
a constant int8 tensor of a broadcastable shape.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec  # noqa: E402
from tests.test_kernels_ops import assert_bit_exact  # noqa: E402

SEEDS = range(24)


def _q(rng: np.random.Generator) -> tuple[float, int]:
    return float(10 ** rng.uniform(-2.5, -0.3)), int(rng.integers(-128, 128))


def _act(tensors: list[TensorSpec], name: str, shape: tuple[int, ...], q: tuple[float, int]) -> int:
    tensors.append(TensorSpec(name, shape, "int8", scale=[q[0]], zero_point=[q[1]]))
    return len(tensors) - 1


def binary_spec(op: str, seed: int) -> ModelSpec:
    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(1, 7, size=3))
    shape = (1, h, w, c)
    tensors: list[TensorSpec] = []
    ops: list[OpSpec] = []
    x = _act(tensors, "x", shape, _q(rng))
    kind = seed % 4
    if kind == 0:  # activation operand, same shape, other quantization
        b = _act(tensors, "b", shape, _q(rng))
        ops.append(OpSpec("QUANTIZE", [x], [b]))
    elif kind == 1:  # activation operand broadcast over H, W
        b = _act(tensors, "b", (1, 1, 1, c), _q(rng))
        axes = len(tensors)
        tensors.append(TensorSpec("axes", (2,), "int32", data=np.array([1, 2], np.int32)))
        ops.append(OpSpec("MEAN", [x, axes], [b], {"keep_dims": True}))
    else:  # constant operand, same or broadcast shape
        choices = [shape, (1, 1, 1, c), (c,), (1, h, 1, 1), (1, 1, w, c), (1, h, w, 1), ()]
        bshape = choices[int(rng.integers(len(choices)))]
        sb, zb = _q(rng)
        data = rng.integers(-128, 128, size=bshape).astype(np.int8)
        tensors.append(TensorSpec("b", tuple(bshape), "int8", data=data, scale=[sb], zero_point=[zb]))
        b = len(tensors) - 1
    sa = float(np.float32(tensors[x].scale[0]))  # type: ignore[index]
    sb_ = float(np.float32(tensors[b].scale[0]))  # type: ignore[index]
    # output scale near the natural one, sometimes much smaller (saturation)
    natural = sa * sb_ * 64 if op == "MUL" else max(sa, sb_) * 1.5
    so = natural * float(10 ** rng.uniform(-1.2, 0.6))
    y = _act(tensors, "y", shape, (so, int(rng.integers(-128, 128))))
    act = str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    ins = [x, b] if rng.random() < 0.5 else [b, x]
    ops.append(OpSpec(op, ins, [y], {"fused_activation_function": act}))
    return ModelSpec(tensors, ops, [x], [y], f"{op.lower()}{seed}")


def concat_spec(seed: int) -> ModelSpec:
    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(2, 7, size=3))
    shape = (1, h, w, c)
    q = _q(rng)
    tensors: list[TensorSpec] = []
    ops: list[OpSpec] = []
    x = _act(tensors, "x", shape, q)
    axis = int(rng.choice([1, 2, 3, -1, -3]))
    ax = axis % 4
    # identity-or-shrinking max pool along the concat axis keeps the quantization
    fh = int(rng.integers(1, h + 1)) if ax == 1 else 1
    fw = int(rng.integers(1, w + 1)) if ax == 2 else 1
    pshape = (1, h - fh + 1, w - fw + 1, c)
    p = _act(tensors, "p", pshape, q)
    ops.append(
        OpSpec(
            "MAX_POOL_2D",
            [x],
            [p],
            {"padding": "VALID", "stride_w": 1, "stride_h": 1, "filter_width": fw, "filter_height": fh},
        )
    )
    parts = [x, p] if rng.random() < 0.5 else [p, x, p]
    if ax == 3 and rng.random() < 0.5:
        parts.append(x)
    oshape = list(shape)
    oshape[ax] = sum(tensors[i].shape[ax] for i in parts)
    y = _act(tensors, "y", tuple(oshape), q)
    ops.append(OpSpec("CONCATENATION", parts, [y], {"axis": axis, "fused_activation_function": "NONE"}))
    return ModelSpec(tensors, ops, [x], [y], f"concat{seed}")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_binary_bit_exact(op: str, seed: int) -> None:
    assert_bit_exact(binary_spec(op, seed), seed)


@pytest.mark.parametrize("seed", range(20))
def test_concatenation_bit_exact(seed: int) -> None:
    assert_bit_exact(concat_spec(seed), seed)
