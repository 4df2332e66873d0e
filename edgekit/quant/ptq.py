"""Post-training quantization of a float graph to a full-int8 graph (TFLite's int8 scheme).

* activations: int8, per-tensor, asymmetric, ranges from calibration (:mod:`calibrate`);
* weights: int8 symmetric in [−127, 127], per channel along the op's ``QuantRule.weight_axis``
  (per tensor on request where the op allows it: ``PTQConfig.per_channel_fc``);
* bias: int32 with scale ``float32(s_in·s_w[c])``, zero point 0;
* outputs: the op's ``QuantRule.output`` — calibrated, fixed (SOFTMAX/LOGISTIC ``(1/256, −128)``,
  TANH ``(1/128, 0)``), or shared between inputs and output (pooling, reshape, squeeze, pad,
  transpose, slices, concatenation, RELU6; the union of the observed ranges);
* activation ops that can be fused (``QuantRule.fusable_as``) after a producer that fuses them
  are folded into it; QUANTIZE/DEQUANTIZE at the float boundaries are removed (DEQUANTIZE of a
  constant is folded).

Every per-op fact comes from the op's registry entry (:mod:`edgekit.ops.registry`). The result
is a quantized :class:`Graph` (int8 input and output with their quantization recorded) whose
description is a JSON object holding the preprocessing (``{"edgekit": 1, "preprocess": {...}}``)
so that ``eval`` and ``deploy`` feed the model exactly what calibration assumed. Its
``source_hash`` is that of its TFLite serialization (:mod:`edgekit.export`), the bytes
``edgekit quantize`` writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from edgekit.data import Preprocess
from edgekit.errors import DataError, UnsupportedOpError
from edgekit.export import graph_to_tflite
from edgekit.ir.graph import Graph, Node, QuantParams, Tensor, fnv1a32
from edgekit.metadata import model_description, read_description
from edgekit.ops.registry import NOT_QUANTIZABLE, SHARED, OpDef, QuantRule, get_op, lookup, quantizable_ops
from edgekit.quant.calibrate import CalibrationResult, calibrate
from edgekit.quant.observers import qparams_for_range

__all__ = ["PTQConfig", "PTQResult", "prepare_graph", "quantize_graph", "activation_qparams", "model_description",
           "read_description"]


@dataclass
class PTQConfig:
    observer: str = "minmax"
    observer_options: dict[str, float] = field(default_factory=dict)
    per_channel_fc: bool = True
    device: str | None = None
    batch_size: int = 100
    progress: bool = True


@dataclass
class PTQResult:
    graph: Graph  # the quantized graph
    calibration: CalibrationResult
    preprocess: Preprocess
    qparams: dict[int, tuple[float, int]]  # prepared-graph tensor id -> activation (scale, zp)
    prepared: Graph  # the prepared float graph (fused, boundary ops removed)

    @cached_property
    def tflite(self) -> bytes:
        """The quantized graph as a TFLite flatbuffer (the bytes `edgekit quantize` writes)."""
        return graph_to_tflite(self.graph)


# ------------------------------------------------------------------------------------------------
# graph preparation


def _consumers(graph: Graph) -> dict[int, list[Node]]:
    cons: dict[int, list[Node]] = {}
    for node in graph.nodes:
        for tid in node.inputs:
            if tid >= 0:
                cons.setdefault(tid, []).append(node)
    return cons


def _rewire(graph: Graph, old: int, new: int) -> None:
    for node in graph.nodes:
        node.inputs = [new if t == old else t for t in node.inputs]
    graph.outputs = [new if t == old else t for t in graph.outputs]


def _rule(node: Node) -> QuantRule:
    opdef = lookup(node.op)
    return NOT_QUANTIZABLE if opdef is None else opdef.quant


def prepare_graph(graph: Graph) -> Graph:
    """A copy of `graph` with boundary QUANTIZE/DEQUANTIZE removed and standalone ReLUs fused."""
    g = copy.deepcopy(graph)
    keep: list[Node] = []
    for node in g.nodes:
        src = g.tensors[node.inputs[0]]
        if node.op == "DEQUANTIZE" and src.is_const:  # e.g. float16 weights: fold
            out = g.tensors[node.outputs[0]]
            q = src.quant
            data = src.data.astype(np.float64)
            if q is not None and src.data.dtype.kind in "iu":
                scale, zp = q.scale.astype(np.float64), q.zero_point.astype(np.float64)
                if scale.size > 1:
                    shape = [1] * data.ndim
                    shape[q.axis] = -1
                    scale, zp = scale.reshape(shape), zp.reshape(shape)
                data = (data - zp) * scale
            out.data, out.dtype, out.quant = data.astype(np.float32), "float32", None
            continue
        if node.op in ("QUANTIZE", "DEQUANTIZE"):
            _rewire(g, node.outputs[0], node.inputs[0])
            continue
        keep.append(node)
    g.nodes = keep
    cons = _consumers(g)
    fused: set[int] = set()
    producer = {t: n for n in g.nodes for t in n.outputs}
    for node in g.nodes:
        as_act = _rule(node).fusable_as
        if as_act is None or node.inputs[0] not in producer:
            continue
        prev = producer[node.inputs[0]]
        if (_rule(prev).fuses_activation and prev.attrs.get("fused_activation_function", "NONE") == "NONE"
                and len(cons.get(prev.outputs[0], [])) == 1 and prev.outputs[0] not in g.outputs
                and prev.index not in fused):
            prev.attrs["fused_activation_function"] = as_act
            prev.outputs = [node.outputs[0]]
            fused.add(node.index)
    g.nodes = [n for n in g.nodes if n.index not in fused]
    for k, node in enumerate(g.nodes):
        node.index = k
    return g


# ------------------------------------------------------------------------------------------------
# quantization parameters


class _Groups:
    """Union-find over tensor ids that must share one quantization."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def pixel_input_qparams(pre: Preprocess) -> tuple[float, int] | None:
    """Exact int8 quantization of pixel inputs 0..255 under the preprocessing's affine map."""
    if not pre.is_image:
        return None
    scales = np.atleast_1d(np.asarray(pre.scale, dtype=np.float64))
    offsets = np.atleast_1d(np.asarray(pre.offset, dtype=np.float64))
    if scales.size > 1 or offsets.size > 1:
        return None  # per-channel normalization: use the observed range
    a, b = float(offsets[0]), float(offsets[0] + 255.0 * scales[0])
    lo, hi = min(a, b), max(a, b)
    if lo > 0 or hi < 0:
        return None
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(round(-128 - lo / scale))
    return (scale, zp) if -128 <= zp <= 127 else None


def activation_qparams(graph: Graph, ranges: dict[int, tuple[float, float]],
                       input_q: tuple[float, int] | None = None,
                       fixed: dict[int, tuple[float, int]] | None = None) -> dict[int, tuple[float, int]]:
    """(scale, zero point) for every activation tensor of a prepared graph; `fixed` sets the
    quantization of given tensors (and of the tensors that share it)."""
    groups = _Groups()
    given = dict(fixed or {})
    fixed = {}
    for node in graph.nodes:
        out_rule = _rule(node).output
        if out_rule == SHARED:
            acts = [t for t in node.inputs if t >= 0 and not graph.tensors[t].is_const]
            for t in acts + list(node.outputs):
                groups.union(acts[0], t)
        elif isinstance(out_rule, tuple):
            fixed[node.outputs[0]] = out_rule
    if input_q is not None:
        for tid in graph.inputs:
            fixed[tid] = input_q
    merged: dict[int, tuple[float, float]] = {}
    for tid, (lo, hi) in ranges.items():
        r = groups.find(tid)
        plo, phi = merged.get(r, (lo, hi))
        merged[r] = (min(plo, lo), max(phi, hi))
    group_fixed: dict[int, tuple[float, int]] = {}
    for tid, q in fixed.items():
        group_fixed.setdefault(groups.find(tid), q)
    for tid, q in given.items():
        group_fixed[groups.find(tid)] = q
    out: dict[int, tuple[float, int]] = {}
    for tid in ranges:
        r = groups.find(tid)
        out[tid] = group_fixed[r] if r in group_fixed else qparams_for_range(*merged[r])
    return out


def _abs_max(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """max |w| per channel along `axis` (or one value), and the weights in float64."""
    w64 = w.astype(np.float64)
    if axis is None:
        amax = np.array([np.abs(w64).max()])
    else:
        red = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w64).max(axis=red)
    return amax, w64


def _finish_weights(w64: np.ndarray, scales: np.ndarray, axis: int | None, qmax: int = 127) -> np.ndarray:
    """Symmetric weights in [−qmax, qmax] (int8 storage) for float32 `scales` (per channel along `axis`)."""
    if axis is None:
        s = scales.astype(np.float64)[0]
    else:
        shape = [1] * w64.ndim
        shape[axis] = -1
        s = scales.astype(np.float64).reshape(shape)
    return np.clip(np.round(w64 / s), -qmax, qmax).astype(np.int8)


def l2_weight_scales(w: np.ndarray, axis: int | None, bits: int = 8, steps: int = 100) -> np.ndarray:
    """OMSE weight scales: per channel along `axis` (or one), the scale ``α·max|w|/qmax`` with α on a
    `steps`-point grid of (0, 1] minimizing the channel's squared quantization error."""
    w64 = w.astype(np.float64)
    wm = w64.reshape(1, -1) if axis is None else np.moveaxis(w64, axis, 0).reshape(w.shape[axis], -1)
    amax = np.maximum(np.abs(wm).max(1), 1e-12)
    qmax = 2 ** (bits - 1) - 1
    alphas = np.arange(1, steps + 1) / steps
    errs = []
    for a in alphas:
        s = a * amax[:, None] / qmax
        errs.append(((np.clip(np.round(wm / s), -qmax, qmax) * s - wm) ** 2).sum(1))
    return (alphas[np.argmin(np.stack(errs), 0)] * amax / qmax).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# the quantized graph


def _options(node: Node) -> dict[str, Any]:
    return {k: v for k, v in node.attrs.items() if v is not None}


class _QuantizedGraphBuilder:
    """Builds the int8 graph from the prepared float graph and the activation quantization."""

    def __init__(self, graph: Graph, qp: dict[int, tuple[float, int]], per_channel_fc: bool) -> None:
        self.g = graph
        self.qp = qp
        self.per_channel_fc = per_channel_fc
        self.tensors: list[Tensor] = []
        self.index: dict[tuple[str, int], int] = {}
        #: weight tensor id -> (float32 per-channel scales, bits): searched weight quantization
        #: (symmetric, [−(2^(b−1)−1), 2^(b−1)−1]; 4-bit weights are stored as packed int4)
        self.weight_q: dict[int, tuple[np.ndarray, int]] = {}
        self.omse_weights = False  # --observer omse: L2-optimal weight scales instead of max |w|

    def add(self, name: str, shape: tuple[int, ...], dtype: str, data: np.ndarray | None = None,
            scale: np.ndarray | list[float] | None = None, zero_point: list[int] | None = None,
            axis: int = 0) -> int:
        quant = None
        if scale is not None:
            zps = zero_point if zero_point is not None else [0] * len(scale)
            quant = QuantParams(scale=np.asarray(scale, dtype=np.float32).reshape(-1),
                                zero_point=np.asarray(zps, dtype=np.int64).reshape(-1), axis=int(axis))
        tid = len(self.tensors)
        self.tensors.append(Tensor(id=tid, name=name, shape=tuple(int(d) for d in shape), dtype=dtype, data=data,
                                   quant=quant))
        return tid

    def act(self, tid: int) -> int:
        key = ("act", tid)
        if key not in self.index:
            t = self.g.tensors[tid]
            if tid not in self.qp:
                raise DataError(f"tensor {t.name} was never calibrated")
            s, z = self.qp[tid]
            self.index[key] = self.add(t.name, t.shape, "int8", scale=[s], zero_point=[z])
        return self.index[key]

    def plain_const(self, tid: int) -> int:
        """An integer operand (shapes, axes, paddings) kept as it is."""
        key = ("int", tid)
        if key not in self.index:
            t = self.g.tensors[tid]
            assert t.data is not None
            data = t.data if t.data.dtype.kind in "iu" else t.data.astype(np.int32)
            self.index[key] = self.add(t.name, t.shape, str(data.dtype), data=data)
        return self.index[key]

    def const_act(self, tid: int) -> int:
        """A float constant used as an activation operand (ADD/MUL/CONCAT): per-tensor int8."""
        key = ("const_act", tid)
        if key not in self.index:
            t = self.g.tensors[tid]
            assert t.data is not None
            data = t.data.astype(np.float64)
            s, z = qparams_for_range(float(data.min()), float(data.max()))
            q = np.clip(np.round(data / s) + z, -128, 127).astype(np.int8)
            self.index[key] = self.add(t.name, t.shape, "int8", data=q, scale=[s], zero_point=[z])
        return self.index[key]

    def const_shared(self, tid: int, like: int) -> int:
        """A float constant operand quantized with activation `like`'s (scale, zero point)."""
        s, z = self.qp[like]
        key = (f"const_shared_{s!r}_{z}", tid)
        if key not in self.index:
            t = self.g.tensors[tid]
            assert t.data is not None
            q = np.clip(np.round(t.data.astype(np.float64) / s) + z, -128, 127).astype(np.int8)
            self.index[key] = self.add(t.name, t.shape, "int8", data=q, scale=[s], zero_point=[z])
        return self.index[key]

    def weighted(self, node: Node, opdef: OpDef) -> list[int]:
        x, w_id = node.inputs[0], node.inputs[1]
        w = self.g.tensors[w_id]
        if w.data is None:
            raise UnsupportedOpError(f"{node.label}: a non-constant filter cannot be quantized by PTQ")
        axis: int | None = opdef.quant.weight_axis
        if opdef.quant.per_tensor_weights and not self.per_channel_fc:
            axis = None
        s_in = np.float32(self.qp[x][0])
        amax, w64 = _abs_max(w.data, axis)
        n_ch = amax.size
        b_id = node.inputs[2] if len(node.inputs) > 2 else -1
        bias = None
        if b_id >= 0:
            bt = self.g.tensors[b_id]
            assert bt.data is not None
            bias = bt.data.astype(np.float64).reshape(-1)
        bits = 8
        scales = np.maximum(amax / 127.0, 1e-12)
        if self.omse_weights and w_id not in self.weight_q:
            scales = l2_weight_scales(w.data, axis).astype(np.float64)
        if w_id in self.weight_q:
            given, bits = self.weight_q[w_id]
            scales = np.asarray(given, np.float64).reshape(-1)
            if scales.size != n_ch:
                raise DataError(f"{node.label}: {scales.size} weight scales for {n_ch} channels")
        if bias is not None:  # keep the int32 bias in range: widen the weight scale if needed
            need = np.abs(bias) / (float(s_in) * (2**31 - 1) * 0.5)
            if n_ch == 1:
                need = np.array([need.max()])
            scales = np.maximum(scales, need)
        scales = scales.astype(np.float32)
        wq = _finish_weights(w64, scales, axis, 2 ** (bits - 1) - 1)
        qdim = axis if axis is not None else 0
        ins = [self.act(x)]
        ins.append(self.add(w.name, w.shape, "int4" if bits == 4 else "int8", data=wq, scale=scales,
                            zero_point=[0] * n_ch, axis=qdim))
        if bias is not None:
            bt = self.g.tensors[b_id]
            n_out = bias.size
            b_scale = (s_in * np.broadcast_to(scales, (n_out,)).astype(np.float32)).astype(np.float32)
            bq = np.clip(np.round(bias / b_scale.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
            ins.append(self.add(bt.name, bt.shape, "int32", data=bq,
                                scale=b_scale if n_ch > 1 else [float(b_scale[0])],
                                zero_point=[0] * (n_ch if n_ch > 1 else 1)))
        elif len(node.inputs) > 2:
            ins.append(-1)
        return ins

    def op(self, node: Node, k: int) -> Node:
        opdef = get_op(node)  # prepared graphs hold known, quantizable ops only
        if opdef.quant.weight_axis is not None:
            ins = self.weighted(node, opdef)
        else:
            ins = []
            for pos, tid in enumerate(node.inputs):
                if tid < 0:
                    ins.append(-1)
                elif not self.g.tensors[tid].is_const:
                    ins.append(self.act(tid))
                elif opdef.quant.output == SHARED and node.op == "CONCATENATION":
                    ins.append(self.const_shared(tid, node.outputs[0]))  # one quantization for all operands
                elif opdef.quant.activation_operands or pos == 0:
                    ins.append(self.const_act(tid))
                else:
                    ins.append(self.plain_const(tid))
        outs = [self.act(t) for t in node.outputs]
        return Node(index=k, op=node.op, inputs=ins, outputs=outs, attrs=_options(node))


def range_observer(observer: str) -> str:
    """The activation observer of an observer setting (``omse``: MSE ranges plus L2 weight scales)."""
    return "mse" if observer == "omse" else observer


#: float ops that `--method ivit` turns into edgekit's integer transformer ops
IVIT_OPS = ("LAYER_NORM", "GELU")


def _not_quantizable(node: Node) -> UnsupportedOpError:
    hint = ("; a transformer quantizes integer-only with --method ivit (I-LayerNorm, ShiftGELU, Shiftmax)"
            if node.op in IVIT_OPS else "")
    return UnsupportedOpError(
        f"PTQ cannot quantize {node.op} ({node.label}): edgekit has no int8 kernel for it{hint}; "
        f"int8 ops: {', '.join(quantizable_ops())}")


# ------------------------------------------------------------------------------------------------
# entry point


def quantize_graph(graph: Graph, calib: np.ndarray, preprocess: Preprocess, config: PTQConfig | None = None,
                   *, description: dict[str, Any] | None = None,
                   input_qparams: tuple[float, int] | None = None) -> PTQResult:
    """PTQ of a float `graph` calibrated on `calib` (float32 inputs, already preprocessed).

    `preprocess` is the float preprocessing that produced `calib`; the int8 model's
    preprocessing (stored in the description) is the same map followed by input quantization.
    The input's int8 (scale, zero point) is `input_qparams` when given, else the exact map of
    pixels 0..255 when the preprocessing is a single affine map of images, else calibrated.
    """
    cfg = config or PTQConfig()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOpError(f"PTQ handles single-input single-output models; this one has "
                                 f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs")
    g = prepare_graph(graph)
    for node in g.nodes:
        if not _rule(node).int8:
            raise _not_quantizable(node)
    cal = calibrate(g, calib, range_observer(cfg.observer), device=cfg.device, batch_size=cfg.batch_size,
                    progress=cfg.progress, observer_options=cfg.observer_options)
    qp = activation_qparams(g, cal.ranges, input_qparams or pixel_input_qparams(preprocess))
    qb = _QuantizedGraphBuilder(g, qp, cfg.per_channel_fc)
    qb.omse_weights = cfg.observer == "omse"
    inputs = [qb.act(t) for t in g.inputs]
    nodes = [qb.op(n, k) for k, n in enumerate(g.nodes)]
    outputs = [qb.act(t) for t in g.outputs]
    s_in, zp_in = qp[g.inputs[0]]
    int8_pre = replace(preprocess, dtype="int8", input_scale=s_in, input_zero_point=zp_in)
    extra = {"method": "ptq", "observer": cfg.observer, "calibration_samples": cal.samples,
             **(description or {})}
    q = Graph(tensors=qb.tensors, nodes=nodes, inputs=inputs, outputs=outputs, name=graph.name,
              description=model_description(int8_pre, **extra))
    result = PTQResult(graph=q, calibration=cal, preprocess=int8_pre, qparams=qp, prepared=g)
    q.source_hash = fnv1a32(result.tflite)
    return result
