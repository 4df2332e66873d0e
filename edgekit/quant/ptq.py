"""Post-training quantization of a float graph to a full-int8 TFLite model (TFLite's int8 scheme).

* activations: int8, per-tensor, asymmetric, ranges from calibration (:mod:`calibrate`);
* weights: int8 symmetric in [−127, 127], per channel (CONV_2D axis 0, DEPTHWISE_CONV_2D
  axis 3, FULLY_CONNECTED axis 0; per-tensor FC on request);
* bias: int32 with scale ``float32(s_in·s_w[c])``, zero point 0;
* fixed output quantization: SOFTMAX and LOGISTIC ``(1/256, −128)``, TANH ``(1/128, 0)``;
  pooling, reshape, squeeze, pad, transpose, slices and concatenation share one quantization
  between their inputs and output (the union of the observed ranges);
* standalone RELU/RELU6 after a conv/FC/add are fused into it; QUANTIZE/DEQUANTIZE at the
  float boundaries are removed (DEQUANTIZE of a constant is folded).

The result is a :class:`ModelSpec` written with :func:`build_tflite`; the graph input and
output are int8 with their quantization recorded, and the model description is a JSON object
holding the preprocessing (``{"edgekit": 1, "preprocess": {...}, ...}``) so that ``eval``
and ``deploy`` feed the model exactly what calibration assumed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgekit.data import Preprocess
from edgekit.deployment import model_description, read_description
from edgekit.errors import DataError, UnsupportedOpError
from edgekit.export.tflite_builder import ModelSpec, OpSpec, TensorSpec, build_tflite
from edgekit.ir.graph import Graph, Node
from edgekit.quant.calibrate import CalibrationResult, calibrate
from edgekit.quant.observers import qparams_for_range

__all__ = ["PTQConfig", "PTQResult", "INT8_OPS", "prepare_graph", "quantize_graph", "model_description",
           "read_description"]

#: Ops the int8 path quantizes (each lowers onto an existing C kernel).
INT8_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D",
            "MAX_POOL_2D", "MEAN", "RESHAPE", "SQUEEZE", "CONCATENATION", "PAD", "SOFTMAX", "LOGISTIC",
            "RELU", "RELU6")
_SHARED_Q_OPS = ("RESHAPE", "SQUEEZE", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD", "CONCATENATION",
                 "TRANSPOSE", "STRIDED_SLICE", "EXPAND_DIMS", "RELU6")  # TFLM's RELU6 keeps the input q
_FIXED_OUT_Q = {"SOFTMAX": (1.0 / 256.0, -128), "LOGISTIC": (1.0 / 256.0, -128), "TANH": (1.0 / 128.0, 0)}
_FUSABLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL")
_WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}


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
    tflite: bytes
    spec: ModelSpec
    calibration: CalibrationResult
    preprocess: Preprocess
    qparams: dict[int, tuple[float, int]]  # prepared-graph tensor id -> activation (scale, zp)
    graph: Graph  # the prepared float graph (fused, boundary ops removed)


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
        if node.op not in ("RELU", "RELU6") or node.inputs[0] not in producer:
            continue
        prev = producer[node.inputs[0]]
        if (prev.op in _FUSABLE and prev.attrs.get("fused_activation_function", "NONE") == "NONE"
                and len(cons.get(prev.outputs[0], [])) == 1 and prev.outputs[0] not in g.outputs
                and prev.index not in fused):
            prev.attrs["fused_activation_function"] = node.op
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


def _input_qparams(pre: Preprocess) -> tuple[float, int] | None:
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
                       input_q: tuple[float, int] | None = None) -> dict[int, tuple[float, int]]:
    """(scale, zero point) for every activation tensor of a prepared graph."""
    groups = _Groups()
    fixed: dict[int, tuple[float, int]] = {}
    for node in graph.nodes:
        if node.op in _SHARED_Q_OPS:
            acts = [t for t in node.inputs if t >= 0 and not graph.tensors[t].is_const]
            for t in acts + list(node.outputs):
                groups.union(acts[0], t)
        if node.op in _FIXED_OUT_Q:
            fixed[node.outputs[0]] = _FIXED_OUT_Q[node.op]
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


def _finish_weights(w64: np.ndarray, scales: np.ndarray, axis: int | None) -> np.ndarray:
    """Symmetric int8 weights in [−127, 127] for float32 `scales` (per channel along `axis`)."""
    if axis is None:
        s = scales.astype(np.float64)[0]
    else:
        shape = [1] * w64.ndim
        shape[axis] = -1
        s = scales.astype(np.float64).reshape(shape)
    return np.clip(np.round(w64 / s), -127, 127).astype(np.int8)


# ------------------------------------------------------------------------------------------------
# spec emission


def _options(node: Node) -> dict[str, Any]:
    return {k: v for k, v in node.attrs.items() if v is not None}


class _SpecBuilder:
    def __init__(self, graph: Graph, qp: dict[int, tuple[float, int]], per_channel_fc: bool) -> None:
        self.g = graph
        self.qp = qp
        self.per_channel_fc = per_channel_fc
        self.tensors: list[TensorSpec] = []
        self.index: dict[int, int] = {}

    def add(self, t: TensorSpec) -> int:
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, tid: int) -> int:
        if tid not in self.index:
            t = self.g.tensors[tid]
            if tid not in self.qp:
                raise DataError(f"tensor {t.name} was never calibrated")
            s, z = self.qp[tid]
            self.index[tid] = self.add(TensorSpec(t.name, t.shape, "int8", scale=[s], zero_point=[z]))
        return self.index[tid]

    def plain_const(self, tid: int) -> int:
        """An integer operand (shapes, axes, paddings) kept as it is."""
        key = -1000 - tid
        if key not in self.index:
            t = self.g.tensors[tid]
            assert t.data is not None
            data = t.data if t.data.dtype.kind in "iu" else t.data.astype(np.int32)
            self.index[key] = self.add(TensorSpec(t.name, t.shape, str(data.dtype), data=data))
        return self.index[key]

    def const_act(self, tid: int) -> int:
        """A float constant used as an activation operand (ADD/MUL/CONCAT): per-tensor int8."""
        key = -2000000 - tid
        if key not in self.index:
            t = self.g.tensors[tid]
            assert t.data is not None
            data = t.data.astype(np.float64)
            s, z = qparams_for_range(float(data.min()), float(data.max()))
            q = np.clip(np.round(data / s) + z, -128, 127).astype(np.int8)
            self.index[key] = self.add(TensorSpec(t.name, t.shape, "int8", data=q, scale=[s], zero_point=[z]))
        return self.index[key]

    def weighted(self, node: Node) -> list[int]:
        x, w_id = node.inputs[0], node.inputs[1]
        w = self.g.tensors[w_id]
        if w.data is None:
            raise UnsupportedOpError(f"{node.label}: a non-constant filter cannot be quantized by PTQ")
        axis: int | None = _WEIGHT_AXIS[node.op]
        if node.op == "FULLY_CONNECTED" and not self.per_channel_fc:
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
        scales = np.maximum(amax / 127.0, 1e-12)
        if bias is not None:  # keep the int32 bias in range: widen the weight scale if needed
            need = np.abs(bias) / (float(s_in) * (2**31 - 1) * 0.5)
            if n_ch == 1:
                need = np.array([need.max()])
            scales = np.maximum(scales, need)
        scales = scales.astype(np.float32)
        wq = _finish_weights(w64, scales, axis)
        qdim = axis if axis is not None else 0
        w_idx = self.add(TensorSpec(w.name, w.shape, "int8", data=wq, scale=scales.tolist(),
                                    zero_point=[0] * n_ch, quantized_dimension=qdim))
        ins = [self.act(x), w_idx]
        if bias is not None:
            bt = self.g.tensors[b_id]
            n_out = bias.size
            b_scale = (s_in * np.broadcast_to(scales, (n_out,)).astype(np.float32)).astype(np.float32)
            bq = np.clip(np.round(bias / b_scale.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
            ins.append(self.add(TensorSpec(bt.name, bt.shape, "int32", data=bq,
                                           scale=b_scale.tolist() if n_ch > 1 else [float(b_scale[0])],
                                           zero_point=[0] * (n_ch if n_ch > 1 else 1))))
        elif len(node.inputs) > 2:
            ins.append(-1)
        return ins

    def op(self, node: Node) -> OpSpec:
        if node.op not in INT8_OPS:
            raise UnsupportedOpError(
                f"PTQ cannot quantize {node.op} ({node.label}): edgekit has no int8 kernel for it; "
                f"int8 ops: {', '.join(INT8_OPS)}")
        if node.op in _WEIGHT_AXIS:
            ins = self.weighted(node)
        else:
            ins = []
            for pos, tid in enumerate(node.inputs):
                if tid < 0:
                    ins.append(-1)
                elif not self.g.tensors[tid].is_const:
                    ins.append(self.act(tid))
                elif node.op in ("ADD", "SUB", "MUL", "CONCATENATION") or (pos == 0):
                    ins.append(self.const_act(tid))
                else:
                    ins.append(self.plain_const(tid))
        outs = [self.act(t) for t in node.outputs]
        return OpSpec(node.op, ins, outs, _options(node))


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
        if node.op not in INT8_OPS:
            raise UnsupportedOpError(
                f"PTQ cannot quantize {node.op} ({node.label}): edgekit has no int8 kernel for it; "
                f"int8 ops: {', '.join(INT8_OPS)}")
    cal = calibrate(g, calib, cfg.observer, device=cfg.device, batch_size=cfg.batch_size,
                    progress=cfg.progress, observer_options=cfg.observer_options)
    qp = activation_qparams(g, cal.ranges, input_qparams or _input_qparams(preprocess))
    sb = _SpecBuilder(g, qp, cfg.per_channel_fc)
    inputs = [sb.act(t) for t in g.inputs]
    ops = [sb.op(n) for n in g.nodes]
    outputs = [sb.act(t) for t in g.outputs]
    s_in, zp_in = qp[g.inputs[0]]
    int8_pre = replace(preprocess, dtype="int8", input_scale=s_in, input_zero_point=zp_in)
    extra = {"method": "ptq", "observer": cfg.observer, "calibration_samples": cal.samples,
             **(description or {})}
    spec = ModelSpec(sb.tensors, ops, inputs, outputs, description=model_description(int8_pre, **extra))
    return PTQResult(tflite=build_tflite(spec), spec=spec, calibration=cal, preprocess=int8_pre,
                     qparams=qp, graph=g)
