"""I-ViT conversion: a float transformer (ViT, hybrid) → one integer-only quantized graph.

After the usual preparation and calibration of :mod:`edgekit.quant.ptq` (same observers, same
calibration images), the float graph is rewritten onto edgekit's integer transformer ops
(:mod:`edgekit.ops.ek_shiftmax`, ``ek_shift_gelu``, ``ek_layernorm``, ``ek_residual_add``):

* ``LAYER_NORM`` → ``EK_LAYERNORM`` (I-LayerNorm: int16 residual stream in, int8 out);
* ``SOFTMAX`` → ``EK_SHIFTMAX`` (int8 → int8, scale 1/256);
* ``GELU`` → ``EK_SHIFTGELU`` (alpha 1.702), SiLU (``MUL(x, LOGISTIC(x))``) → ``EK_SHIFTGELU``
  (alpha 1);
* the residual stream: every ``ADD`` whose result feeds a LayerNorm or another residual add
  becomes ``EK_RESIDUAL_ADD`` with an int16 output (symmetric, ``max|x|/32767``; I-ViT's
  ``QuantAct(16)``), its constant operand (the position embedding) int16;
* ``MUL`` by a positive scalar constant (attention's ``1/sqrt(d)``) is folded into the scale:
  its output takes the input's scale times the constant, so the integer MUL is the identity and
  lowers to a view (``edgekit.ops.mul.is_integer_identity``);
* the rest as PTQ does it: per-channel symmetric int8 weights, int32 biases, asymmetric int8
  activations; BATCH_MATMUL, TRANSPOSE, STRIDED_SLICE, RESHAPE and CONCATENATION int8 (TFLM's
  arithmetic; a constant concatenated operand takes the shared quantization).

The result is one model file of TFLite builtins plus edgekit CUSTOM operators, which every
edgekit command runs and whose deployed code has no floating point.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np

from edgekit.data import Preprocess
from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node, fnv1a32
from edgekit.metadata import model_description
from edgekit.ops.ek_shift_gelu import GELU_ALPHA, SILU_ALPHA
from edgekit.quant.calibrate import CalibrationResult, calibrate
from edgekit.quant.ptq import (
    PTQConfig,
    PTQResult,
    _consumers,
    _not_quantizable,
    _QuantizedGraphBuilder,
    _rule,
    activation_qparams,
    pixel_input_qparams,
    prepare_graph,
    range_observer,
)

__all__ = ["quantize_ivit", "rewrite_for_ivit", "build_integer_graph", "INT16_MAX"]

INT16_MAX = 32767


def _is_const(g: Graph, tid: int) -> bool:
    return tid >= 0 and g.tensors[tid].is_const


def rewrite_for_ivit(graph: Graph) -> tuple[Graph, set[int], dict[int, float]]:
    """The prepared float graph with I-ViT's ops (a copy; tensor ids unchanged), the residual
    stream's tensor ids, and {MUL output id: scalar constant} of the folded scale MULs."""
    g = copy.deepcopy(graph)
    cons = _consumers(g)
    producer = {t: n for n in g.nodes for t in n.outputs}
    drop: set[int] = set()
    for node in g.nodes:
        if node.op == "LAYER_NORM":
            node.op = "EK_LAYERNORM"
            node.attrs = {"epsilon": float(node.attrs.get("epsilon", 1e-5) or 1e-5)}
        elif node.op == "SOFTMAX":
            node.op = "EK_SHIFTMAX"
            node.attrs = {"beta": float(node.attrs.get("beta", 1.0) or 1.0)}
        elif node.op == "GELU":
            node.op = "EK_SHIFTGELU"
            node.attrs = {"alpha": GELU_ALPHA}
        elif node.op == "MUL" and len(node.inputs) == 2:
            x, s = node.inputs
            sig = producer.get(s)
            if (sig is not None and sig.op == "LOGISTIC" and sig.inputs[0] == x and len(cons.get(s, [])) == 1
                    and s not in g.outputs):  # SiLU: x · sigmoid(x)
                node.op, node.inputs, node.attrs = "EK_SHIFTGELU", [x], {"alpha": SILU_ALPHA}
                drop.add(sig.index)
    g.nodes = [n for n in g.nodes if n.index not in drop]
    for k, n in enumerate(g.nodes):
        n.index = k
    cons = _consumers(g)
    # the residual stream: ADDs feeding a LayerNorm or another residual ADD (to a fixed point)
    stream: set[int] = set()
    changed = True
    while changed:
        changed = False
        for node in g.nodes:
            out = node.outputs[0]
            if node.op != "ADD" or out in stream or node.attrs.get("fused_activation_function", "NONE") != "NONE":
                continue
            if any(c.op == "EK_LAYERNORM" or (c.op == "ADD" and c.outputs[0] in stream) for c in cons.get(out, [])):
                stream.add(out)
                changed = True
    for node in g.nodes:
        if node.op == "ADD" and node.outputs[0] in stream:
            node.op, node.attrs = "EK_RESIDUAL_ADD", {}
            if _is_const(g, node.inputs[0]):  # the kernel takes a constant as input 2
                node.inputs = node.inputs[::-1]
    folds: dict[int, float] = {}
    for node in g.nodes:
        if node.op == "MUL" and len(node.inputs) == 2 and _is_const(g, node.inputs[1]) \
                and not _is_const(g, node.inputs[0]):
            c = g.tensors[node.inputs[1]].data
            if c.size == 1 and float(c.reshape(-1)[0]) > 0:
                folds[node.outputs[0]] = float(c.reshape(-1)[0])
    return g, stream, folds


class _IvitGraphBuilder(_QuantizedGraphBuilder):
    """PTQ's builder with the int16 residual stream and shared-quantization constants."""

    def __init__(self, graph: Graph, qp: dict[int, tuple[float, int]], per_channel_fc: bool,
                 stream: set[int]) -> None:
        super().__init__(graph, qp, per_channel_fc)
        self.stream = stream

    def act(self, tid: int) -> int:
        if tid in self.stream and ("act", tid) not in self.index:
            t = self.g.tensors[tid]
            s, _ = self.qp[tid]
            self.index[("act", tid)] = self.add(t.name, t.shape, "int16", scale=[s], zero_point=[0])
        return super().act(tid)

    def const_as(self, tid: int, dtype: str, scale: float, zp: int) -> int:
        key = (f"const_{dtype}_{scale!r}_{zp}", tid)
        if key not in self.index:
            t = self.g.tensors[tid]
            assert t.data is not None
            info = np.iinfo(dtype)
            q = np.clip(np.round(t.data.astype(np.float64) / scale) + zp, info.min, info.max).astype(dtype)
            self.index[key] = self.add(t.name, t.shape, dtype, data=q, scale=[scale], zero_point=[zp])
        return self.index[key]

    def op(self, node: Node, k: int) -> Node:
        g = self.g
        if node.op == "EK_RESIDUAL_ADD" and _is_const(g, node.inputs[1]):
            data = g.tensors[node.inputs[1]].data
            amax = float(np.abs(data.astype(np.float64)).max()) or 1e-8
            b = self.const_as(node.inputs[1], "int16", float(np.float32(amax / INT16_MAX)), 0)
            return Node(index=k, op=node.op, inputs=[self.act(node.inputs[0]), b],
                        outputs=[self.act(node.outputs[0])], attrs={})
        if node.op == "EK_LAYERNORM":  # gamma and beta stay float32: the lowering computes the integers
            ins = [self.act(node.inputs[0])]
            for tid in node.inputs[1:3]:
                t = g.tensors[tid]
                ins.append(self.add(t.name, t.shape, "float32", data=t.data.astype(np.float32)))
            return Node(index=k, op=node.op, inputs=ins, outputs=[self.act(node.outputs[0])], attrs=dict(node.attrs))
        return super().op(node, k)


def _stream_qparams(lo: float, hi: float) -> tuple[float, int]:
    amax = max(abs(lo), abs(hi)) or 1e-8
    return float(np.float32(amax / INT16_MAX)), 0


def quantize_ivit(graph: Graph, calib: np.ndarray, preprocess: Preprocess, config: PTQConfig | None = None, *,
                  description: dict[str, Any] | None = None) -> PTQResult:
    """I-ViT integer-only quantization of a float transformer `graph`, calibrated on `calib`."""
    cfg = config or PTQConfig()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOpError(f"I-ViT conversion handles single-input single-output models; this one has "
                                 f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs")
    prepared = prepare_graph(graph)
    g, stream, folds = rewrite_for_ivit(prepared)
    for node in g.nodes:
        if not _rule(node).int8:
            raise _not_quantizable(node)
    # calibrate the float model itself (the rewritten graph keeps its tensor ids)
    cal = calibrate(prepared, calib, range_observer(cfg.observer), device=cfg.device, batch_size=cfg.batch_size,
                    progress=cfg.progress, observer_options=cfg.observer_options)
    input_q = pixel_input_qparams(preprocess)
    qp = activation_qparams(g, cal.ranges, input_q)
    producer = {t: n for n in g.nodes for t in n.outputs}
    fixed = {out: (float(np.float32(qp[producer[out].inputs[0]][0] * c)), qp[producer[out].inputs[0]][1])
             for out, c in folds.items()}
    if fixed:
        qp = activation_qparams(g, cal.ranges, input_q, fixed=fixed)
    for tid in stream:
        qp[tid] = _stream_qparams(*cal.ranges[tid])
    extra = {"method": "ivit", "observer": cfg.observer, "calibration_samples": cal.samples, **(description or {})}
    return build_integer_graph(graph.name, prepared, g, stream, qp, preprocess, cal, extra,
                               per_channel_fc=cfg.per_channel_fc, omse_weights=cfg.observer == "omse")


def build_integer_graph(name: str, prepared: Graph, rewritten: Graph, stream: set[int],
                        qp: dict[int, tuple[float, int]], preprocess: Preprocess, calibration: CalibrationResult,
                        description: dict[str, Any], *, per_channel_fc: bool = True,
                        weight_q: dict[int, tuple[np.ndarray, int]] | None = None,
                        omse_weights: bool = False) -> PTQResult:
    """The integer graph of a rewritten float graph for the given activation quantization
    (`qp`: tensor id -> (scale, zp); the stream int16) and, optionally, searched weight scales
    and bit widths (`weight_q`: weight id -> (scales, bits); default per-channel min/max int8)."""
    g = rewritten
    qb = _IvitGraphBuilder(g, qp, per_channel_fc, stream)
    qb.weight_q = dict(weight_q or {})
    qb.omse_weights = omse_weights
    inputs = [qb.act(t) for t in g.inputs]
    nodes = [qb.op(n, k) for k, n in enumerate(g.nodes)]
    outputs = [qb.act(t) for t in g.outputs]
    s_in, zp_in = qp[g.inputs[0]]
    int8_pre = replace(preprocess, dtype="int8", input_scale=s_in, input_zero_point=zp_in)
    q = Graph(tensors=qb.tensors, nodes=nodes, inputs=inputs, outputs=outputs, name=name,
              description=model_description(int8_pre, **description))
    result = PTQResult(graph=q, calibration=calibration, preprocess=int8_pre, qparams=qp, prepared=prepared)
    q.source_hash = fnv1a32(result.tflite)
    return result

