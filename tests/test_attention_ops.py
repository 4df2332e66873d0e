"""Attention data movement and batched matmul: BATCH_MATMUL (int8), TRANSPOSE and STRIDED_SLICE
(strided copies by element size, or views), CONCATENATION with a constant operand — bit-exact
with the TFLite Micro wheel on single-input models (the second operand of a matmul is built from
the input by QUANTIZE / TRANSPOSE / STRIDED_SLICE, or is a constant) — and every op's Python
integer reference (``run_int``, run by :class:`edgekit.quant.int_exec.IntExecutor`) bit-exact with
the host-compiled C, on batches of several samples."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite_micro", reason="the TFLite Micro wheel is the oracle (pip install .[dev])")

from edgekit import numerics as nm  # noqa: E402
from edgekit.errors import UnsupportedOpError  # noqa: E402
from edgekit.frontends.tflite import parse_tflite  # noqa: E402
from edgekit.lower import lower_graph  # noqa: E402
from edgekit.ops.batch_matmul import batch_matmul_multiplier  # noqa: E402
from edgekit.pipeline import compile_model  # noqa: E402
from edgekit.quant.int_exec import IntExecutor  # noqa: E402
from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec, build_tflite  # noqa: E402
from tests.modelgen import OP_GENERATORS  # noqa: E402
from tests.test_kernels_ops import _tflm, assert_bit_exact  # noqa: E402


class Spec:
    """A small single-input model under construction."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.tensors: list[TensorSpec] = []
        self.ops: list[OpSpec] = []

    def q(self, lo: float = -2.5, hi: float = -0.3) -> tuple[float, int]:
        """A random per-tensor quantization with a nonzero zero point."""
        zp = int(self.rng.integers(-128, 128)) or 1
        return float(np.float32(10 ** self.rng.uniform(lo, hi))), zp

    def act(self, shape: tuple[int, ...], q: tuple[float, int], dtype: str = "int8") -> int:
        self.tensors.append(TensorSpec(f"t{len(self.tensors)}", tuple(shape), dtype, scale=[q[0]], zero_point=[q[1]]))
        return len(self.tensors) - 1

    def plain(self, shape: tuple[int, ...], dtype: str) -> int:
        """An unquantized activation (float32, int16 copies)."""
        self.tensors.append(TensorSpec(f"t{len(self.tensors)}", tuple(shape), dtype))
        return len(self.tensors) - 1

    def const(self, data: np.ndarray, dtype: str, q: tuple[float, int] | None = None) -> int:
        arr = np.asarray(data).astype(dtype)
        self.tensors.append(TensorSpec(f"c{len(self.tensors)}", tuple(arr.shape), dtype, data=arr,
                                       scale=None if q is None else [q[0]], zero_point=None if q is None else [q[1]]))
        return len(self.tensors) - 1

    def i32(self, values: list[int]) -> int:
        return self.const(np.asarray(values, dtype=np.int32), "int32")

    def qp(self, t: int) -> tuple[float, int]:
        ts = self.tensors[t]
        assert ts.scale is not None and ts.zero_point is not None
        return float(ts.scale[0]), int(ts.zero_point[0])

    def op(self, name: str, ins: list[int], out: int, **options: object) -> int:
        self.ops.append(OpSpec(name, ins, [out], dict(options)))
        return out

    def requantize(self, x: int) -> int:
        """QUANTIZE int8 → int8 to another quantization (an operand with its own scale/zp)."""
        return self.op("QUANTIZE", [x], self.act(self.tensors[x].shape, self.q()))

    def transpose(self, x: int, perm: list[int]) -> int:
        shape = self.tensors[x].shape
        out = self.act(tuple(shape[p] for p in perm), self.qp(x))
        return self.op("TRANSPOSE", [x, self.i32(perm)], out)

    def slice(self, x: int, begin: list[int], end: list[int], strides: list[int], out_shape: tuple[int, ...],
              **masks: int) -> int:
        out = self.act(out_shape, self.qp(x))
        ins = [x, self.i32(begin), self.i32(end), self.i32(strides)]
        return self.op("STRIDED_SLICE", ins, out, **{"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0, **masks})

    def matmul(self, a: int, b: int, adj_x: bool = False, adj_y: bool = False,
               out_scale: float | None = None) -> int:
        sa, sb = (self.tensors[t].shape for t in (a, b))
        m = sa[-1] if adj_x else sa[-2]
        k = sa[-2] if adj_x else sa[-1]
        n = sb[-2] if adj_y else sb[-1]
        batch = tuple(int(d) for d in np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2])))
        if out_scale is None:  # near the natural scale of the product, sometimes saturating
            out_scale = self.qp(a)[0] * self.qp(b)[0] * 60 * np.sqrt(k) * 10 ** self.rng.uniform(-1.0, 0.7)
        y = self.act((*batch, m, n), (float(np.float32(out_scale)), int(self.rng.integers(-128, 128))))
        return self.op("BATCH_MATMUL", [a, b], y, adj_x=adj_x, adj_y=adj_y)

    def spec(self, x: int, y: int) -> ModelSpec:
        return ModelSpec(list(self.tensors), list(self.ops), [x], [y], "attention")


def int_reference_matches_c(spec: ModelSpec, seed: int, n: int = 5) -> None:
    """IntExecutor (the ops' run_int) == the host-compiled C, on a batch of n samples (random,
    all -128, all 127)."""
    buf = build_tflite(spec)
    graph = parse_tflite(buf, name="ir")
    shape = tuple(graph.tensors[graph.inputs[0]].shape)
    rng = np.random.default_rng(20_000 + seed)
    x = rng.integers(-128, 128, size=(n, *shape[1:])).astype(np.int8)
    x[0], x[1] = -128, 127
    want = compile_model(buf, name="ir").run(x)
    (got,) = IntExecutor(graph).run(x)
    assert got.dtype == want.dtype
    diff = np.argwhere(got.reshape(n, -1) != want.reshape(n, -1))
    assert diff.size == 0, f"{len(diff)} of {want.size} differ, first at {diff[0].tolist()}"


def check(spec: ModelSpec, seed: int, n_inputs: int = 4) -> None:
    """C == TFLM and, unless the model holds an op without an integer reference (QUANTIZE, used
    to give a second operand its own quantization), integer reference == C."""
    assert_bit_exact(spec, seed, n_inputs=n_inputs)
    if not any(op.op == "QUANTIZE" for op in spec.ops):
        int_reference_matches_c(spec, seed)


def calls(spec: ModelSpec) -> list:
    return [lay.call for lay in lower_graph(parse_tflite(build_tflite(spec))).layers]


# ------------------------------------------------------------------------------------------------
# BATCH_MATMUL


def attention_scores(seed: int) -> ModelSpec:
    """The ViT's q @ k^T: (1,65,2,32) → TRANSPOSE (0,2,1,3) and (0,2,3,1) → (1,2,65,32) @ (1,2,32,65)."""
    s = Spec(np.random.default_rng(seed))
    x = s.act((1, 65, 2, 32), s.q())
    q = s.transpose(x, [0, 2, 1, 3])
    k = s.transpose(s.requantize(x), [0, 2, 3, 1])
    return s.spec(x, s.matmul(q, k))


def attention_context(seed: int) -> ModelSpec:
    """The ViT's p @ v: (1,2,65,65) @ (1,2,65,32), v a strided slice of the input."""
    s = Spec(np.random.default_rng(seed))
    x = s.act((1, 2, 65, 65), s.q())
    v = s.requantize(s.slice(x, [0, 0, 0, 0], [1, 2, 65, 32], [1, 1, 1, 1], (1, 2, 65, 32)))
    return s.spec(x, s.matmul(x, v))


def random_matmul(seed: int) -> ModelSpec:
    """adj_x/adj_y, broadcast batch dims, a constant lhs or rhs, nonzero zero points."""
    rng = np.random.default_rng(seed)
    s = Spec(rng)
    b, m, k, n = (int(v) for v in rng.integers(1, 9, size=4))
    k = int(rng.choice([k, 13, 32, 33]))
    adj_x, adj_y = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    kind = seed % 4
    if kind == 0:  # x @ requantize(x) in both layouts
        x = s.act((1, b, k, m) if adj_x else (1, b, m, k), s.q())
        r = s.requantize(x)
        if adj_x == adj_y:  # (M,K)·(K,M) needs the other layout: transpose the operand
            r = s.transpose(r, [0, 1, 3, 2])
        y = s.matmul(x, r, adj_x, adj_y)
    elif kind == 1:  # constant rhs of lower rank: broadcast over the batch dims
        x = s.act((1, b, k, m) if adj_x else (1, b, m, k), s.q())
        w = rng.integers(-128, 128, size=(n, k) if adj_y else (k, n))
        y = s.matmul(x, s.const(w, "int8", s.q()), adj_x, adj_y)
    elif kind == 2:  # constant lhs, activation rhs
        x = s.act((1, b, n, k) if adj_y else (1, b, k, n), s.q())
        w = rng.integers(-128, 128, size=(1, b if rng.random() < 0.5 else 1, *((k, m) if adj_x else (m, k))))
        y = s.matmul(s.const(w, "int8", s.q()), x, adj_x, adj_y)
    else:  # both activations, the rhs broadcast along a batch dim
        x = s.act((1, b, m, k), s.q())
        r = s.requantize(s.slice(x, [0, 0, 0, 0], [1, 1, m, k], [1, 1, 1, 1], (1, 1, m, k)))
        y = s.matmul(x, r, False, True)
    return s.spec(x, y)


@pytest.mark.parametrize("seed", range(3))
def test_vit_attention_shapes_are_bit_exact(seed: int) -> None:
    check(attention_scores(seed), seed)
    check(attention_context(seed), seed)


@pytest.mark.parametrize("seed", range(12))
def test_batch_matmul_is_bit_exact(seed: int) -> None:
    check(random_matmul(seed), seed)


def test_the_modelgen_batch_matmul_lowers() -> None:
    """tests/modelgen.py's two-input BATCH_MATMUL: both operands from the arena, scratch as the C says."""
    from edgekit.ops.registry import get_op

    for seed in range(4):
        graph = parse_tflite(build_tflite(OP_GENERATORS["BATCH_MATMUL"](np.random.default_rng(seed))))
        (node,) = graph.nodes
        call = get_op(node).lower(graph, node)
        assert call.func == "ek_batch_matmul_s8" and len(call.inputs) == 2
        p = call.params
        assert call.scratch_bytes == 4 * p.cols + (0 if p.adj_y else -(-p.depth * p.cols // 4) * 4)


@pytest.mark.parametrize("case", ["left_shift", "flushed", "saturating"])
def test_batch_matmul_extreme_scales(case: str) -> None:
    """A multiplier > 1 (left shift), one below 2^-31 (flushed to 0: every output is zp_out) and
    one that saturates almost every output."""
    s = Spec(np.random.default_rng(5))
    x = s.act((1, 3, 8, 16), s.q())
    r = s.requantize(x)
    sa, sb = s.qp(x)[0], s.qp(r)[0]
    out = {"left_shift": sa * sb / 40.0, "flushed": sa * sb * 2.0**36, "saturating": sa * sb * 0.7}[case]
    spec = s.spec(x, s.matmul(x, r, adj_y=True, out_scale=out))
    (call,) = [c for c in calls(spec) if c.func == "ek_batch_matmul_s8"]
    m = call.params.output
    assert {"left_shift": m.shift > 0, "flushed": m.multiplier == 0, "saturating": 0 < m.shift < 31}[case]
    check(spec, 5)


def _f32_product_multiplier(a: float, b: float, c: float) -> tuple[int, int]:
    return nm.quantize_multiplier(float(np.float32(a) * np.float32(b)) / float(np.float32(c)))


def _scales_where_the_product_precision_matters(rng: np.random.Generator) -> tuple[float, float, float]:
    acc = np.arange(-128, 128).reshape(-1, 1) * np.arange(-127, 128).reshape(1, -1)
    while True:
        a, b = (float(np.float32(v)) for v in 10 ** rng.uniform(-3, 0, size=2))
        c = float(np.float32(a * b * 10 ** rng.uniform(1.2, 2.3)))
        mf, md = _f32_product_multiplier(a, b, c), nm.quantize_multiplier(a * b / c)
        if mf == md:
            continue
        of = np.clip(nm.multiply_by_quantized_multiplier_np(acc, *mf), -128, 127)
        od = np.clip(nm.multiply_by_quantized_multiplier_np(acc, *md), -128, 127)
        if not np.array_equal(of, od):
            return a, b, c


@pytest.mark.parametrize("seed", range(3))
def test_batch_matmul_multiplier_product_precision(seed: int) -> None:
    """Every int8 lhs value times every rhs value (K = 1) on scales where a float32 and a double
    s_lhs·s_rhs give different outputs: the pinned TFLM wheel forms the product in double, and so
    does edgekit (the float32 product would fail this test)."""
    a, b, c = _scales_where_the_product_precision_matters(np.random.default_rng(seed))
    s = Spec(np.random.default_rng(seed))
    x = s.act((1, 256, 1), (a, 0))
    y = s.matmul(x, s.const(np.arange(-127, 128).reshape(1, 255), "int8", (b, 0)), out_scale=c)
    zo = s.qp(y)[1]
    buf = build_tflite(s.spec(x, y))
    xin = np.arange(-128, 128, dtype=np.int8).reshape(1, 256, 1)
    ref = _tflm(buf, [xin])[0].reshape(256, 255)
    got = compile_model(buf, name="bmm").run(xin).reshape(256, 255)
    assert np.array_equal(ref, got)
    m = batch_matmul_multiplier(a, b, c)
    assert (m.multiplier, m.shift) == nm.quantize_multiplier(a * b / c)
    acc = np.arange(-128, 128).reshape(-1, 1) * np.arange(-127, 128).reshape(1, -1)
    f32 = np.clip(nm.multiply_by_quantized_multiplier_np(acc, *_f32_product_multiplier(a, b, c)) + zo, -128, 127)
    assert not np.array_equal(f32, ref)  # the test tells the two recipes apart


def test_batch_matmul_refusals() -> None:
    s = Spec(np.random.default_rng(0))
    x = s.act((1, 2, 3, 4), s.q())
    w = s.const(np.ones((1, 2, 4, 5)), "int8", s.q())
    spec = s.spec(x, s.matmul(w, w))
    with pytest.raises(UnsupportedOpError, match="both operands are constants"):
        lower_graph(parse_tflite(build_tflite(spec)))


# ------------------------------------------------------------------------------------------------
# TRANSPOSE


PERMS = [
    ((7, 5), [1, 0]),
    ((1, 6, 5), [0, 2, 1]),
    ((1, 4, 3, 5), [0, 2, 1, 3]),
    ((1, 5, 2, 6), [0, 2, 3, 1]),
    ((1, 3, 4, 5), [0, 3, 1, 2]),
    ((1, 4, 3, 2, 5), [0, 3, 1, 4, 2]),
    ((1, 2, 3, 4, 5), [0, 4, 3, 2, 1]),
    ((2, 3, 4), [2, 0, 1]),
]


def transpose_spec(shape: tuple[int, ...], perm: list[int], dtype: str, seed: int) -> ModelSpec:
    s = Spec(np.random.default_rng(seed))
    if dtype == "int8":
        x = s.act(shape, s.q())
        return s.spec(x, s.transpose(x, perm))
    x = s.plain(shape, dtype)
    y = s.plain(tuple(shape[p] for p in perm), dtype)
    return s.spec(x, s.op("TRANSPOSE", [x, s.i32(perm)], y))


@pytest.mark.parametrize("shape,perm", PERMS)
def test_transpose_is_bit_exact(shape: tuple[int, ...], perm: list[int]) -> None:
    spec = transpose_spec(shape, perm, "int8", len(shape))
    assert [c.func for c in calls(spec)] == ["ek_transpose"]
    if shape[0] == 1:
        check(spec, len(shape))
    else:  # the batch axis moves: the C and TFLM take one sample at a time
        assert_bit_exact(spec, 0, n_inputs=3)


@pytest.mark.parametrize("dtype", ["int16", "float32"])
@pytest.mark.parametrize("shape,perm", [PERMS[3], PERMS[5]])
def test_transpose_copies_wider_elements(shape: tuple[int, ...], perm: list[int], dtype: str) -> None:
    spec = transpose_spec(shape, perm, dtype, 1)
    buf = build_tflite(spec)
    rng = np.random.default_rng(1)
    if dtype == "float32":
        xs = rng.normal(0.0, 100.0, size=(3, *shape)).astype(np.float32)
    else:
        xs = rng.integers(-(2**15), 2**15, size=(3, *shape)).astype(np.int16)
    ref = np.stack(_tflm(buf, list(xs)))
    precision = {"precision": "float32"} if dtype == "float32" else {}  # a float model runs unquantized
    got = compile_model(buf, name="tr", **precision).run(xs[:, 0])
    assert got.dtype == ref.dtype and np.array_equal(ref.reshape(3, -1).view(np.uint8), got.reshape(3, -1).view(
        np.uint8))
    assert np.array_equal(got.reshape(ref.shape), np.transpose(xs, [0, *(p + 1 for p in perm)]).reshape(ref.shape))


def test_a_transpose_of_size_one_axes_is_a_view() -> None:
    spec = transpose_spec((1, 5, 1, 3), [0, 2, 1, 3], "int8", 2)
    (call,) = calls(spec)
    assert call.is_view
    check(spec, 2)


# ------------------------------------------------------------------------------------------------
# STRIDED_SLICE


SLICES = [  # shape, begin, end, strides, masks, output shape
    ((1, 7, 6), [0, 1, 0], [1, 6, 6], [1, 2, 1], {}, (1, 3, 6)),
    ((1, 7, 6), [0, 0, 0], [1, 1, 6], [1, 1, 1], {"shrink_axis_mask": 2}, (1, 6)),  # the ViT's class token
    ((1, 7, 6), [0, 0, 2], [1, 1, 6], [1, 1, 1], {"shrink_axis_mask": 2}, (1, 4)),
    ((1, 5, 4, 6), [0, -1, 0, 1], [1, 0, 4, 5], [1, -1, 1, 2], {}, (1, 4, 4, 2)),  # negative stride and index
    ((1, 5, 4, 6), [0, 4, 0, 5], [1, 0, 0, 0], [1, -2, 1, -1], {"end_mask": 0b1101}, (1, 2, 4, 6)),
    ((1, 5, 4, 6), [0, 3, 2, 0], [1, 5, 3, 6], [1, 1, 1, 3], {"begin_mask": 0b0010, "shrink_axis_mask": 0b0100},
     (1, 5, 2)),
    ((1, 6, 3, 4), [0, 0, 2, 0], [1, 6, 3, 4], [1, 1, 1, 1], {"shrink_axis_mask": 4}, (1, 6, 4)),  # q/k/v split
    ((1, 9), [0, -100], [1, 100], [1, 3], {}, (1, 3)),  # clamped indices
]


def slice_spec(case: tuple, seed: int) -> ModelSpec:
    shape, begin, end, strides, masks, out = case
    s = Spec(np.random.default_rng(seed))
    x = s.act(shape, s.q())
    return s.spec(x, s.slice(x, begin, end, strides, out, **masks))


@pytest.mark.parametrize("k", range(len(SLICES)))
def test_strided_slice_is_bit_exact(k: int) -> None:
    check(slice_spec(SLICES[k], k), k)


def test_slices_of_leading_elements_are_views() -> None:
    (cls_token,) = calls(slice_spec(SLICES[1], 0))
    assert cls_token.is_view
    (other,) = calls(slice_spec(SLICES[2], 0))
    assert other.func == "ek_strided_slice" and other.params.in_offset == 2


def test_vit_qkv_split_in_five_dims() -> None:
    """(1,65,3,2,32) → (1,65,2,32) by shrinking axis 2 (TFLM Micro slices at most 4 dims: the C
    is checked against the integer reference and numpy)."""
    rng = np.random.default_rng(0)
    for i in range(3):
        s = Spec(rng)
        x = s.act((1, 65, 3, 2, 32), s.q())
        spec = s.spec(x, s.slice(x, [0, 0, i, 0, 0], [1, 65, i + 1, 2, 32], [1] * 5, (1, 65, 2, 32),
                                 shrink_axis_mask=4))
        int_reference_matches_c(spec, i)
        xs = rng.integers(-128, 128, size=(3, 65, 3, 2, 32)).astype(np.int8)
        got = compile_model(build_tflite(spec), name="qkv").run(xs)
        assert np.array_equal(got, xs[:, :, i])


# ------------------------------------------------------------------------------------------------
# CONCATENATION with constant operands


def concat_spec(seed: int, const_first: bool = True, axis: int = 1, same_q: bool = True) -> ModelSpec:
    rng = np.random.default_rng(seed)
    s = Spec(rng)
    t, c = int(rng.integers(2, 9)), int(rng.integers(1, 9))
    q = s.q()
    x = s.act((1, t, c), q)
    cshape = [1, t, c]
    cshape[axis] = int(rng.integers(1, 3))
    cls = s.const(rng.integers(-128, 128, size=tuple(cshape)), "int8", q if same_q else s.q())
    parts = [cls, x] if const_first else [x, cls, x]
    oshape = [1, t, c]
    oshape[axis] = sum(s.tensors[p].shape[axis] for p in parts)
    y = s.act(tuple(oshape), q)
    return s.spec(x, s.op("CONCATENATION", parts, y, axis=axis, fused_activation_function="NONE"))


@pytest.mark.parametrize("seed", range(6))
def test_concatenation_with_a_constant_is_bit_exact(seed: int) -> None:
    check(concat_spec(seed, const_first=seed % 2 == 0, axis=1 + seed % 2), seed)


def test_concatenation_refuses_a_constant_of_another_quantization() -> None:
    with pytest.raises(UnsupportedOpError, match="constant input 0 .* differs from the output's"):
        lower_graph(parse_tflite(build_tflite(concat_spec(0, same_q=False))))


# ------------------------------------------------------------------------------------------------
# the integer references of the other ops == the C


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN", "AVERAGE_POOL_2D", "PAD",
                                "RESHAPE"])
def test_integer_reference_matches_the_c(op: str) -> None:
    for seed in range(4):
        int_reference_matches_c(OP_GENERATORS[op](np.random.default_rng(seed)), seed)


@pytest.mark.parametrize("op", ["ADD", "SUB"])
@pytest.mark.parametrize("seed", range(4))
def test_add_integer_reference_matches_the_c(seed: int, op: str) -> None:
    """ADD/SUB of an activation and a constant (same or broadcast shape), or of two activations."""
    rng = np.random.default_rng(seed)
    s = Spec(rng)
    h, w, c = (int(v) for v in rng.integers(1, 6, size=3))
    x = s.act((1, h, w, c), s.q())
    if seed % 2:
        b = s.const(rng.integers(-128, 128, size=[(1, h, w, c), (c,), (1, 1, w, 1)][seed % 3]), "int8", s.q())
    else:
        b = s.transpose(x, [0, 2, 1, 3]) if h == w else s.requantize(x)
    y = s.act((1, h, w, c), s.q(-2.0, -0.5))
    act = ["NONE", "RELU", "RELU6", "NONE"][seed]
    ins = [x, b] if rng.random() < 0.5 else [b, x]
    spec = s.spec(x, s.op(op, ins, y, fused_activation_function=act))
    check(spec, seed)


def test_a_small_vit_block_integer_reference_matches_the_c() -> None:
    """class token + patches → FC (keep_num_dims) → q/k/v split (STRIDED_SLICE) → TRANSPOSE →
    BATCH_MATMUL → BATCH_MATMUL → TRANSPOSE → RESHAPE → ADD (residual), all in int8."""
    rng = np.random.default_rng(11)
    s = Spec(rng)
    q0 = s.q()
    x = s.act((1, 4, 8), q0)
    tok = s.act((1, 5, 8), q0)
    s.op("CONCATENATION", [s.const(rng.integers(-128, 128, size=(1, 1, 8)), "int8", q0), x], tok, axis=0 + 1,
         fused_activation_function="NONE")
    w = s.const(rng.integers(-127, 128, size=(12, 8)), "int8", (0.01, 0))
    qkv = s.op("FULLY_CONNECTED", [tok, w, -1], s.act((1, 5, 12), s.q(-1.5, -0.5)), keep_num_dims=True,
               fused_activation_function="NONE")
    r = s.op("RESHAPE", [qkv, s.i32([1, 5, 3, 2, 2])], s.act((1, 5, 3, 2, 2), s.qp(qkv)), new_shape=[1, 5, 3, 2, 2])
    heads = [s.slice(r, [0, 0, i, 0, 0], [1, 5, i + 1, 2, 2], [1] * 5, (1, 5, 2, 2), shrink_axis_mask=4)
             for i in range(3)]
    qh = s.transpose(heads[0], [0, 2, 1, 3])
    kh = s.transpose(heads[1], [0, 2, 3, 1])
    vh = s.transpose(heads[2], [0, 2, 1, 3])
    scores = s.matmul(qh, kh)
    ctx = s.matmul(scores, vh)
    merged = s.transpose(ctx, [0, 2, 1, 3])
    flat = s.op("RESHAPE", [merged, s.i32([1, 5, 4])], s.act((1, 5, 4), s.qp(merged)), new_shape=[1, 5, 4])
    res = s.op("ADD", [flat, s.slice(tok, [0, 0, 0], [1, 5, 4], [1, 1, 1], (1, 5, 4))], s.act((1, 5, 4), s.q()),
               fused_activation_function="NONE")
    int_reference_matches_c(s.spec(x, res), 11, n=6)


@pytest.mark.parametrize("kernels", ["fast", "portable"])
def test_residual_block_integer_reference_matches_the_c(kernels: str) -> None:
    """conv → ADD(x, conv) (fused into the GEMM convolution in fast builds) → depthwise → PAD →
    AVERAGE_POOL_2D → MEAN → FULLY_CONNECTED, on both kernel sets."""
    from edgekit.ops import _fast
    from tests.modelgen import Graph

    g = Graph(np.random.default_rng(3))
    x = g.input((1, 6, 6, 4))
    y = g.conv2d(x, cout=4, kernel=(3, 3), stride=(1, 1), padding="SAME", act="NONE")
    r = g.binary("ADD", x, y, act="RELU")
    d = g.depthwise(r, multiplier=2, kernel=(3, 3), stride=(2, 2), padding="SAME")
    p = g.pad(d, np.array([[0, 0], [1, 0], [0, 1], [0, 0]], dtype=np.int32))
    a = g.pool("AVERAGE_POOL_2D", p, filt=(2, 2), stride=(1, 1), padding="SAME")
    m = g.mean(a, [1, 2], keep_dims=False)
    out = g.fully_connected(m, units=5, per_channel=True, act="NONE")
    spec = g.spec([x], [out])
    with _fast.kernel_set(kernels):
        fused = [lay.label for lay in lower_graph(parse_tflite(build_tflite(spec))).layers if "+" in lay.label]
        assert len(fused) == (kernels == "fast")
        int_reference_matches_c(spec, 3, n=6)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_scratch_companion_matches_the_planner(tmp_path: Path) -> None:
    """ek_batch_matmul_s8_scratch_bytes() in C == the scratch the lowering reserves (adj_x/adj_y,
    constant operands, odd sizes)."""
    from edgekit.emit import render_struct

    found = [c for seed in range(12) for c in calls(random_matmul(seed)) if c.func == "ek_batch_matmul_s8"]
    found += [c for c in calls(attention_scores(0)) + calls(attention_context(0)) if c.func == "ek_batch_matmul_s8"]
    assert {(c.params.adj_x, c.params.adj_y) for c in found} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    arrays: list = []
    inits = [render_struct(c.params, f"p{k}", arrays) for k, c in enumerate(found)]
    runtime = Path(__file__).resolve().parents[1] / "firmware" / "runtime"
    src = ['#include <stdio.h>', '#include "ek_runtime.h"']
    src += [f"static const {a.ctype} {a.symbol}[{a.length}] = {{ {a.body} }};" for a in arrays]
    src += [f"static const ek_batch_matmul_params_t p{k} = {init};" for k, init in enumerate(inits)]
    src += ["int main(void) {"]
    src += [f'    printf("%ld\\n", (long)ek_batch_matmul_s8_scratch_bytes(&p{k}));' for k in range(len(found))]
    src += ["    return 0;", "}"]
    (tmp_path / "s.c").write_text("\n".join(src) + "\n")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{runtime}", str(tmp_path / "s.c"),
                    str(runtime / "ek_batch_matmul.c"), "-o", str(tmp_path / "s")], check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "s")], check=True, capture_output=True, text=True).stdout.split()
    assert [int(v) for v in out] == [c.scratch_bytes for c in found]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("case", ["scores", "matmul_adj", "matmul_const", "slice", "concat"])
def test_kernels_sanitizer_clean_and_bit_exact(case: str, tmp_path: Path) -> None:
    """ASan/UBSan executables of the new kernels (scratch transposes, negative strides, constant
    operands) agree with TFLM."""
    from edgekit.pipeline import generate
    from edgekit.toolchain.host import build_host_executable, run_host_executable
    from tests.test_kernels_ops import random_input

    spec = {"scores": lambda: attention_scores(1), "context": lambda: attention_context(1),
            "matmul_adj": lambda: random_matmul(4), "matmul_const": lambda: random_matmul(6),
            "slice": lambda: slice_spec(SLICES[4], 4), "transpose": lambda: transpose_spec(*PERMS[6], "int8", 6),
            "concat": lambda: concat_spec(1, const_first=False)}[case]()
    buf = build_tflite(spec)
    lib = generate(parse_tflite(buf, name="k"), tmp_path / "lib", "k")
    exe = build_host_executable(lib, tmp_path / "k_san", sanitize=True)
    rng = np.random.default_rng(0)
    xs = [random_input(spec, rng) for _ in range(3)]
    t_in = spec.tensors[spec.inputs[0]]
    out = run_host_executable(exe, np.stack([x.reshape(t_in.shape[1:]) for x in xs]), lib.info)
    for k, r in enumerate(_tflm(buf, xs)):
        assert np.array_equal(r, out[k].reshape(r.shape))
