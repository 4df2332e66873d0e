"""Helpers shared by the ops' Python integer references (``OpDef.run_int``); no op registers here.

Activations reach ``run_int`` batch first: the IR shape holds batch 1 on axis 0 and the executor
(:mod:`edgekit.quant.int_exec`) passes ``(N, *shape[1:])``. The C runs one sample at a time, so a
reference works on *samples*: :func:`operand` views an activation as ``(N, *ir_shape)`` (a new
leading sample axis, the IR's own axes after it; a constant gets a sample axis of 1 that
broadcasts) and :func:`unsamples` turns ``(N, *out_shape)`` back into the batch-first form. An op
then works on its IR axes shifted by one, whatever it does to the IR's axis 0.

Arithmetic is exact int64 numpy; :func:`wrap32` is the C's two's-complement int32 wrap and
:func:`requant` TFLM's ``MultiplyByQuantizedMultiplier`` per channel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops.params import ConvGeometry, Requant


def operand(graph: Graph, node: Node, args: list, i: int, int64: bool = True) -> np.ndarray:
    """Input `i` as ``(samples, *ir_shape)``: an activation from ``args[i]`` (N samples), a
    constant from the graph (1 sample). ``int64``: as int64 (else the tensor's own dtype)."""
    t = graph.tensors[node.inputs[i]]
    shape = tuple(int(d) for d in t.shape)
    x = np.asarray(t.data if args[i] is None else args[i])
    if int64:
        x = x.astype(np.int64)
    per = int(np.prod(shape, dtype=np.int64)) if shape else 1
    n = x.size // per if per else (x.shape[0] if x.ndim else 1)
    return x.reshape((n, *shape))


def unsamples(y: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """``(N, *out_shape)`` → the batch-first form the executor passes on: ``(N·out_shape[0],
    *out_shape[1:])`` (``(N, *out_shape[1:])`` for the usual batch-1 IR shapes)."""
    n = y.shape[0]
    if not out_shape:
        return y.reshape(n)
    return y.reshape((n * int(out_shape[0]), *(int(d) for d in out_shape[1:])))


def aligned(*xs: np.ndarray) -> list[np.ndarray]:
    """Sample-axis arrays of different IR ranks, padded with 1s after the sample axis to one
    rank, so that numpy broadcasting aligns their IR axes from the right (as TFLM does)."""
    rank = max(x.ndim for x in xs)
    return [x.reshape((x.shape[0], *(1,) * (rank - x.ndim), *x.shape[1:])) for x in xs]


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (the C's wrapping int32 arithmetic)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def requant(acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier(acc, mult[c], shift[c])`` along the last axis of `acc`
    (one multiplier for every channel when `mult` has one entry)."""
    m = np.asarray(mult, dtype=np.int64).reshape(-1)
    s = np.asarray(shift, dtype=np.int64).reshape(-1)
    if m.size == 1:
        return nm.multiply_by_quantized_multiplier_np(acc, int(m[0]), int(s[0]))
    out = np.empty(acc.shape, dtype=np.int64)
    for c in range(m.size):
        out[..., c] = nm.multiply_by_quantized_multiplier_np(acc[..., c], int(m[c]), int(s[c]))
    return out


def clamp_int8(v: np.ndarray, lo: int = -128, hi: int = 127) -> np.ndarray:
    return np.clip(v, lo, hi).astype(np.int8)


def window_taps(x: np.ndarray, g: ConvGeometry) -> Iterator[tuple[int, int, np.ndarray]]:
    """For each tap (ky, kx) of the window of geometry `g`, the ``(n, out_h, out_w, C)`` values it
    reads from the NHWC batch `x`; taps outside the input (padding) read 0. A negative pad (a
    patch tile's window starting inside its input) skips that many leading rows or columns."""
    x = x[:, max(0, -g.pad_h):, max(0, -g.pad_w):]
    g = dataclasses.replace(g, pad_h=max(0, g.pad_h), pad_w=max(0, g.pad_w))
    n, h, w, c = x.shape
    eh = (g.out_h - 1) * g.stride_h + (g.k_h - 1) * g.dil_h + 1
    ew = (g.out_w - 1) * g.stride_w + (g.k_w - 1) * g.dil_w + 1
    xp = np.zeros((n, max(eh, g.pad_h + h), max(ew, g.pad_w + w), c), dtype=x.dtype)
    xp[:, g.pad_h : g.pad_h + h, g.pad_w : g.pad_w + w] = x
    for ky in range(g.k_h):
        for kx in range(g.k_w):
            y0, x0 = ky * g.dil_h, kx * g.dil_w
            yield ky, kx, xp[:, y0 : y0 + (g.out_h - 1) * g.stride_h + 1 : g.stride_h,
                             x0 : x0 + (g.out_w - 1) * g.stride_w + 1 : g.stride_w]


def requant_output(acc: np.ndarray, bias: np.ndarray, rq: Requant) -> np.ndarray:
    """TFLM's per-channel output stage of conv/depthwise/FC: ``acc + bias`` (int32, wrapping as
    the C does), ``MultiplyByQuantizedMultiplier(·, mult[c], shift[c])``, + zp_out, clamped."""
    acc = wrap32(acc + np.asarray(bias, dtype=np.int64))
    return clamp_int8(requant(acc, rq.mult, rq.shift) + rq.output_offset, rq.act_min, rq.act_max)
