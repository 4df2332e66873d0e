"""edgekit's I-ViT integer ops: the generated C agrees bit for bit with the Python integer
reference (edgekit.quant.int_exec), on random and extreme inputs, and the integer results are
close to the float functions they approximate."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit import pipeline
from edgekit.ir.graph import Graph, Node, QuantParams, Tensor
from edgekit.ops import _ivit
from edgekit.ops._fast import kernel_set
from edgekit.ops.ek_layernorm import isqrt
from edgekit.quant.int_exec import IntExecutor


def _t(tid: int, shape: tuple[int, ...], dtype: str, scale: float | None = None, zp: int = 0,
       data: np.ndarray | None = None) -> Tensor:
    q = None if scale is None else QuantParams(scale=np.array([scale], np.float32), zero_point=np.array([zp]))
    return Tensor(id=tid, name=f"t{tid}", shape=shape, dtype=dtype, data=data, quant=q)


def _graph(op: str, x: Tensor, y: Tensor, consts: list[Tensor] = (), attrs: dict | None = None) -> Graph:
    tensors = [x, y, *consts]
    for i, t in enumerate(tensors):
        t.id = i
    node = Node(index=0, op=op, inputs=[0] + [t.id for t in consts], outputs=[1], attrs=dict(attrs or {}))
    return Graph(tensors=tensors, nodes=[node], inputs=[0], outputs=[1], name="ivit_op")


def _c_vs_reference(graph: Graph, batch: np.ndarray) -> np.ndarray:
    ref = IntExecutor(graph).run(batch)[0]
    host = pipeline.compile_model(graph, "ivit_op")
    got = np.stack([host.run(batch[i:i + 1])[0] for i in range(batch.shape[0])]) if batch.shape[0] > 1 else \
        host.run(batch)
    got = np.asarray(got).reshape(ref.shape)
    np.testing.assert_array_equal(got, ref)
    return ref


def _int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


# --------------------------------------------------------------------------- shift exponential


def test_shift_exp_is_close_to_exp_and_never_overflows() -> None:
    t = np.arange(-510, 1, dtype=np.int64)
    for s in (0.001, 0.05, 0.3, 2.0, 40.0):
        m = _ivit.exp_multiplier(s)
        for headroom in (0, 9, 15):
            e = _ivit.shift_exp(t, m, headroom)
            assert e.max() <= 1 << (15 + headroom) and e.min() >= 0
            exact = np.exp(t * s) * (1 << (15 + headroom))
            big = exact > 1024  # where the integer resolution is not the limit
            # the polynomial (0.27 %) and the Q15 multiplier's rounding (|t|·0.5/m relative)
            assert np.all(np.abs(e[big] / exact[big] - 1) < 0.003 + 510 * 0.5 / m * s), s


def test_isqrt_is_exact() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([np.arange(0, 5000), rng.integers(0, 2**62, 5000), [2**62 - 1, 2**32, 2**32 - 1]])
    k = isqrt(v)
    assert np.all(k * k <= v) and np.all((k + 1) * (k + 1) > v)


# --------------------------------------------------------------------------- Shiftmax


@pytest.mark.parametrize("depth,scale,zp", [(65, 0.08, 3), (7, 0.5, -20), (1000, 0.02, 0), (1, 0.1, 0),
                                            (197, 1.2, 100), (65, 40.0, 0), (16384, 0.05, 0)])
def test_shiftmax_c_matches_reference_and_softmax(depth: int, scale: float, zp: int) -> None:
    rng = np.random.default_rng(depth)
    rows = 6
    x = _t(0, (1, rows, depth), "int8", scale, zp)
    y = _t(1, (1, rows, depth), "int8", 1 / 256, -128)
    g = _graph("EK_SHIFTMAX", x, y, attrs={"beta": 1.0})
    batch = _int8(rng, (3, rows, depth))
    batch[0, 0] = 127  # all-equal logits
    batch[0, 1] = -128
    batch[0, 2, :] = -128  # one saturated logit dominates
    batch[0, 2, 0] = 127
    ref = _c_vs_reference(g, batch)
    prob = (ref.astype(np.float64) + 128) / 256
    logits = (batch.astype(np.float64) - zp) * scale
    exact = np.exp(logits - logits.max(-1, keepdims=True))
    exact /= exact.sum(-1, keepdims=True)
    assert np.abs(prob - exact).max() < 0.02
    assert np.all(prob.sum(-1) <= 1.0 + 1e-9)


# --------------------------------------------------------------------------- ShiftGELU / SiLU


@pytest.mark.parametrize("alpha,scale,zp", [(1.702, 0.06, -10), (1.702, 0.01, 0), (1.0, 0.08, 20), (1.702, 0.3, 0)])
def test_shift_gelu_c_matches_reference_on_every_input(alpha: float, scale: float, zp: int) -> None:
    x = _t(0, (1, 256), "int8", scale, zp)
    lo, hi = (-128 - zp) * scale, (127 - zp) * scale
    f = np.linspace(lo, hi, 1001)
    fy = f / (1 + np.exp(-alpha * f))
    s_out = float(np.float32((fy.max() - fy.min()) / 255))
    zp_out = int(np.clip(round(-128 - fy.min() / s_out), -128, 127))
    y = _t(1, (1, 256), "int8", s_out, zp_out)
    g = _graph("EK_SHIFTGELU", x, y, attrs={"alpha": alpha})
    batch = np.arange(-128, 128, dtype=np.int64).astype(np.int8).reshape(1, 256)
    with kernel_set("portable"):  # the ShiftGELU arithmetic in C
        ref = _c_vs_reference(g, batch)
    np.testing.assert_array_equal(_c_vs_reference(g, batch), ref)  # the fast kernels' table
    real_in = (batch.astype(np.float64) - zp) * scale
    want = real_in / (1 + np.exp(-alpha * real_in))
    got = (ref.astype(np.float64) - zp_out) * s_out
    assert np.abs(got - want).max() <= 1.01 * s_out  # within one output LSB everywhere


def test_shift_gelu_of_large_negative_inputs_is_zero() -> None:
    """I-ViT with a fixed n = 23 gives GELU(-7) = -3.3 when the range is wide; here it is 0."""
    scale = 10.0 / 127
    x = _t(0, (1, 4), "int8", scale, 0)
    y = _t(1, (1, 4), "int8", 10.0 / 127, 0)
    g = _graph("EK_SHIFTGELU", x, y, attrs={"alpha": 1.702})
    batch = np.array([[-89, -127, 127, 0]], dtype=np.int8)  # -7.0, -10.0, 10.0, 0.0
    with kernel_set("portable"):
        ref = _c_vs_reference(g, batch)
    assert ref.tolist() == [[0, 0, 127, 0]]


# --------------------------------------------------------------------------- I-LayerNorm


@pytest.mark.parametrize("channels,s_in", [(64, 0.002), (48, 0.0005), (192, 0.01), (3, 0.1)])
def test_layernorm_c_matches_reference_and_float(channels: int, s_in: float) -> None:
    rng = np.random.default_rng(channels)
    rows = 5
    gamma = rng.normal(1.0, 0.5, channels).astype(np.float32)
    gamma[0] = -0.7  # a negative gamma
    gamma[1] = 0.0
    beta = rng.normal(0.0, 0.3, channels).astype(np.float32)
    x = _t(0, (1, rows, channels), "int16", s_in, 0)
    s_out = 6.0 / 127
    y = _t(1, (1, rows, channels), "int8", s_out, 2)
    g = _graph("EK_LAYERNORM", x, y, [_t(2, (channels,), "float32", data=gamma), _t(3, (channels,), "float32",
                                                                                   data=beta)],
               attrs={"epsilon": 1e-5})
    batch = rng.integers(-20000, 20000, size=(3, rows, channels)).astype(np.int16)
    batch[0, 0] = 1234  # zero variance
    batch[0, 1] = 32767  # saturated row
    batch[0, 2] = np.where(np.arange(channels) % 2, 32767, -32768)  # largest variance
    batch[1, 0] = rng.integers(-3, 4, channels)  # tiny variance: eps matters
    ref = _c_vs_reference(g, batch)
    real = batch.astype(np.float64) * s_in
    mu = real.mean(-1, keepdims=True)
    var = real.var(-1, keepdims=True)
    want = (real - mu) / np.sqrt(var + 1e-5) * gamma + beta
    want_q = np.clip(np.round(want / s_out) + 2, -128, 127)
    assert np.abs(ref.astype(np.int64) - want_q).max() <= 1
    assert np.all(ref[0, 0] == np.clip(np.round(beta / s_out) + 2, -128, 127))


# --------------------------------------------------------------------------- residual add


def test_residual_add_with_a_constant_matches_reference() -> None:
    rng = np.random.default_rng(7)
    shape = (1, 9, 16)
    s_out = 0.0004
    b_data = rng.integers(-32768, 32768, size=shape).astype(np.int16)
    g = _graph("EK_RESIDUAL_ADD", _t(0, shape, "int8", 0.05, -7), _t(1, shape, "int16", s_out, 0),
               [_t(2, shape, "int16", 0.0003, 0, data=b_data)])
    batch = rng.integers(-128, 128, size=(4, *shape[1:])).astype(np.int8)
    batch[0] = 127  # saturation
    ref = _c_vs_reference(g, batch)
    want = (batch.astype(np.float64) + 7) * 0.05 + b_data.astype(np.float64) * 0.0003
    fits = np.abs(want) < 32767 * s_out
    assert np.abs(ref.astype(np.float64) * s_out - want)[fits].max() <= 1.01 * s_out
    over = ~fits
    assert np.all(ref[over] == np.where(want[over] > 0, 32767, -32768))  # saturates, never wraps


@pytest.mark.parametrize("order", ["int16+int8", "int8+int16", "int16+int16"])
def test_residual_add_of_two_activations_matches_reference(order: str) -> None:
    """x (int16) → I-LayerNorm → b (int8); then x + b, b + x or x + x into the int16 stream."""
    rng = np.random.default_rng(3)
    shape = (1, 5, 8)
    gamma, beta = np.ones(8, np.float32), np.zeros(8, np.float32)
    x = _t(0, shape, "int16", 0.001, 0)
    b = _t(1, shape, "int8", 4.0 / 127, 0)
    y = _t(2, shape, "int16", 0.0015, 0)
    consts = [_t(3, (8,), "float32", data=gamma), _t(4, (8,), "float32", data=beta)]
    ln = Node(index=0, op="EK_LAYERNORM", inputs=[0, 3, 4], outputs=[1], attrs={"epsilon": 1e-5})
    operands = {"int16+int8": [0, 1], "int8+int16": [1, 0], "int16+int16": [0, 0]}[order]
    add = Node(index=1, op="EK_RESIDUAL_ADD", inputs=operands, outputs=[2])
    g = Graph(tensors=[x, b, y, *consts], nodes=[ln, add], inputs=[0], outputs=[2], name="res")
    batch = rng.integers(-32768, 32768, size=(3, *shape[1:])).astype(np.int16)
    _c_vs_reference(g, batch)


def test_layernorm_of_an_int8_input_matches_reference_and_float() -> None:
    """A conv output entering a transformer (MobileViT): int8 with a zero point, which cancels."""
    rng = np.random.default_rng(11)
    channels, s_in, zp = 48, 0.05, -13
    gamma = rng.normal(1.0, 0.3, channels).astype(np.float32)
    beta = rng.normal(0.0, 0.2, channels).astype(np.float32)
    x = _t(0, (1, 4, channels), "int8", s_in, zp)
    y = _t(1, (1, 4, channels), "int8", 5.0 / 127, 0)
    g = _graph("EK_LAYERNORM", x, y, [_t(2, (channels,), "float32", data=gamma), _t(3, (channels,), "float32",
                                                                                   data=beta)])
    batch = _int8(rng, (3, 4, channels))
    batch[0, 0] = 5  # zero variance
    ref = _c_vs_reference(g, batch)
    real = (batch.astype(np.float64) - zp) * s_in
    want = (real - real.mean(-1, keepdims=True)) / np.sqrt(real.var(-1, keepdims=True) + 1e-5) * gamma + beta
    assert np.abs(ref - np.clip(np.round(want / (5.0 / 127)), -128, 127)).max() <= 1


def test_shiftmax_scratch_companion_matches_the_lowering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    from pathlib import Path

    from edgekit.emit import render_struct
    from edgekit.ops.registry import get_op

    calls = []
    for depth in (1, 65, 1000):
        g = _graph("EK_SHIFTMAX", _t(0, (1, 3, depth), "int8", 0.1, 0), _t(1, (1, 3, depth), "int8", 1 / 256, -128))
        calls.append(get_op(g.nodes[0]).lower(g, g.nodes[0]))
    runtime = Path(__file__).resolve().parents[1] / "firmware" / "runtime"
    arrays: list = []
    src = ['#include <stdio.h>', '#include "ek_runtime.h"']
    src += [f"static const ek_shiftmax_params_t p{k} = {render_struct(c.params, f'p{k}', arrays)};"
            for k, c in enumerate(calls)]
    src += ["int main(void) {"] + [f'    printf("%ld\\n", (long)ek_shiftmax_s8_scratch_bytes(&p{k}));'
                                   for k in range(len(calls))] + ["    return 0;", "}"]
    (tmp_path / "s.c").write_text("\n".join(src) + "\n")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{runtime}", str(tmp_path / "s.c"),
                    str(runtime / "ek_ivit.c"), "-o", str(tmp_path / "s")], check=True)
    out = subprocess.run([str(tmp_path / "s")], check=True, capture_output=True, text=True).stdout.split()
    assert [int(v) for v in out] == [c.scratch_bytes for c in calls]
