"""Full quantization simulation (fake-quant in torch) of the deployable integer transformer graph.

The simulated graph is the one ``edgekit quantize --method ivit`` deploys: the prepared float
graph rewritten onto edgekit's integer transformer ops (:func:`edgekit.quant.ivit.rewrite_for_ivit`:
LayerNorm, softmax, GELU/SiLU, residual adds), run in float32 with every tensor the deployed graph
stores quantized, op for op:

* every activation the integer graph holds (graph input, every node output: conv/FC outputs,
  softmax and LayerNorm outputs, GELU/SiLU outputs, the attention matmul operands, reshapes and
  transposes) is fake-quantized by its :class:`Quantizer`; tensors that share one quantization in
  the integer graph (pooling, reshape, transpose, slices, concatenation) share one quantizer;
* the residual stream (the inputs of LayerNorm and of the residual adds) is 16-bit symmetric, as
  the integer graph stores it (I-ViT's ``QuantAct(16)``), at every activation bit width;
* softmax outputs are fixed at ``1/2^A`` (zero point ``−2^(A−1)``) unless a method gives them
  another quantizer; a ``MUL`` by a positive constant (attention's ``1/sqrt(d)``) keeps the
  input's grid scaled by the constant (the integer MUL is the identity);
* weights (conv, depthwise, FC, constant matmul operands) are symmetric per output channel at
  W bits, ``[−(2^(W−1)−1), 2^(W−1)−1]``; biases stay float (int32 in the integer graph).

A :class:`QuantConfig` holds one quantizer per tensor group and per weight; the PTQ methods of
:mod:`edgekit.quant.methods` differ only in how they choose them. Quantizers that the integer
kernels cannot run (per-channel activation scales, twin-uniform, log2) are marked
``deployable = False``; their accuracy is reported as *simulated*.

Rounding uses a straight-through estimator, so a backward pass through the simulation gives the
gradients the Hessian-guided searches need. All numbers from here are fake-quant in torch: the
deployed truth is the generated C (host mode or the device).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from edgekit.errors import DataError
from edgekit.ir.graph import Graph
from edgekit.ops.registry import SHARED, lookup
from edgekit.quant.float_exec import FloatExecutor
from edgekit.quant.ivit import INT16_MAX, rewrite_for_ivit
from edgekit.quant.ptq import _Groups, _rule, pixel_input_qparams, prepare_graph

__all__ = ["Quantizer", "QuantConfig", "SimStructure", "FakeQuantModel", "parse_bits", "uniform_qparams",
           "weight_axes", "STREAM_BITS", "LABEL"]

LABEL = "simulated (fake-quant in torch)"
STREAM_BITS = 16  # the residual stream's integer width in the deployed graph
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
BIT_SETTINGS = ("W8A8", "W6A6", "W4A8", "W4A4")
_AVERAGING = ("AVERAGE_POOL_2D", "MEAN")  # shared-quantization ops whose outputs need rounding


def parse_bits(text: str) -> tuple[int, int]:
    """``W8A8`` → (8, 8); one of :data:`BIT_SETTINGS` (a DataError otherwise)."""
    t = str(text).strip().upper()
    if t not in BIT_SETTINGS:
        raise DataError(f"unknown bit setting {text!r}; use one of {', '.join(BIT_SETTINGS)}")
    w, a = t[1:].split("A")
    return int(w), int(a)


def qrange(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def uniform_qparams(lo: np.ndarray | float, hi: np.ndarray | float, bits: int,
                    symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """(scale, zero point) covering [lo, hi] ∪ {0} on the signed `bits` grid (float32 scales).

    Asymmetric: TFLite's rule, the range is widened to hold 0, so the zero point is always
    representable (the zero-point overflow of channel-wise asymmetric quantization cannot
    happen). Symmetric: zero point 0, ``max|x| / (2^(b−1) − 1)``.
    """
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    qmin, qmax = qrange(bits)
    if symmetric:
        amax = np.maximum(np.maximum(-lo, hi), 1e-8)
        return (amax / qmax).astype(np.float32), np.zeros(np.shape(amax), np.int64)
    span = np.maximum(hi - lo, 1e-8)
    scale = (span / (qmax - qmin)).astype(np.float32)
    zp = np.clip(np.round(qmin - lo / scale.astype(np.float64)), qmin, qmax).astype(np.int64)
    return scale, zp


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """q in the forward pass, identity gradient (straight-through estimator)."""
    return x + (q - x).detach()


@dataclass
class Quantizer:
    """How one tensor (or tensor group) is fake-quantized.

    ``kind``: ``uniform`` (affine on the signed ``bits`` grid, per tensor or per channel along the
    last axis), ``twin_softmax`` / ``twin_act`` (PTQ4ViT's twin-uniform for post-softmax and
    post-GELU values), ``log2`` (FQ-ViT's log-int softmax: ``2^−q``), ``log_sqrt2`` (RepQ-ViT's
    ``2^(−q/2)``), ``pot_channel`` (FQ-ViT's power-of-two factor: per-channel scales
    ``base·2^α_c``).
    """

    bits: int
    scale: np.ndarray  # () or (C,)
    zero_point: np.ndarray  # same shape as scale
    kind: str = "uniform"
    symmetric: bool = False
    extra: dict[str, float] = field(default_factory=dict)
    _cache: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    @property
    def per_channel(self) -> bool:
        return np.size(self.scale) > 1

    @property
    def deployable(self) -> bool:
        """Runs on the integer kernels as it is (per-tensor affine, at most 8 or exactly 16 bits)."""
        return self.kind == "uniform" and not self.per_channel and (self.bits <= 8 or self.bits == STREAM_BITS)

    def qparams(self) -> tuple[float, int]:
        """The per-tensor (scale, zero point) of a deployable quantizer."""
        return float(np.asarray(self.scale).reshape(-1)[0]), int(np.asarray(self.zero_point).reshape(-1)[0])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        qmin, qmax = qrange(self.bits)
        if self.kind in ("uniform", "pot_channel"):  # one fused op, straight-through gradient
            if not self.per_channel:
                s, z = self.qparams()
                if not (torch.is_grad_enabled() and x.requires_grad):  # in place: 3x faster than the fused op
                    return x.mul(1.0 / s).round_().add_(z).clamp_(qmin, qmax).sub_(z).mul_(s)
                return torch.fake_quantize_per_tensor_affine(x, s, z, qmin, qmax)
            key = f"pc:{x.device}"
            if key not in self._cache:
                self._cache[key] = torch.as_tensor(np.asarray(self.scale, np.float32), device=x.device)
                self._cache[key + "z"] = torch.as_tensor(np.asarray(self.zero_point, np.int32), device=x.device)
            return torch.fake_quantize_per_channel_affine(x, self._cache[key], self._cache[key + "z"], x.dim() - 1,
                                                          qmin, qmax)
        elif self.kind == "twin_softmax":  # [0, 1]: two uniform ranges split at 2^-k (MSB selects)
            n = 2 ** (self.bits - 1)
            split = float(self.extra["split"])
            lo_step = split / n
            low = torch.round(torch.clamp(x, 0.0, split) / lo_step) * lo_step
            high = torch.round(torch.clamp(x, 0.0, 1.0) * (n - 1)) / (n - 1)
            q = torch.where(x < split, low, high)
        elif self.kind == "twin_act":  # negatives on a fixed fine grid, positives on a searched one
            n = 2 ** (self.bits - 1)
            s_pos = float(np.asarray(self.scale).reshape(-1)[0])
            s_neg = float(self.extra["neg_scale"])
            q = torch.where(x < 0, torch.clamp(torch.round(x / s_neg), -n, 0) * s_neg,
                            torch.clamp(torch.round(x / s_pos), 0, n - 1) * s_pos)
        elif self.kind in ("log2", "log_sqrt2"):  # softmax probabilities in (0, 1]
            levels = 2 ** self.bits
            xs = torch.clamp(x, min=1e-30)
            if self.kind == "log2":
                code = torch.round(-torch.log2(xs))
                val = torch.pow(2.0, -code)
            else:
                code = torch.round(-2.0 * torch.log2(xs))
                val = torch.pow(2.0, -code / 2.0)
            q = torch.where(code >= levels, torch.zeros_like(x), val)
        else:
            raise DataError(f"unknown quantizer kind {self.kind!r}")
        return _ste(x, q)


def weight_axes(graph: Graph) -> dict[int, int]:
    """Constant weight tensor id -> its per-channel axis (conv/FC filters, constant matmul operands)."""
    axes: dict[int, int] = {}
    for node in graph.nodes:
        opdef = lookup(node.op)
        wa = None if opdef is None else opdef.quant.weight_axis
        if wa is not None and graph.tensors[node.inputs[1]].is_const:
            axes[node.inputs[1]] = wa
        elif node.op == "BATCH_MATMUL":
            a, b = node.inputs[0], node.inputs[1]
            if graph.tensors[b].is_const:
                axes[b] = -2 if node.attrs.get("adj_y") else -1
            if graph.tensors[a].is_const:
                axes[a] = -1 if node.attrs.get("adj_x") else -2
    return axes


def weight_quantizer(w: np.ndarray, axis: int, bits: int, alpha: np.ndarray | float = 1.0) -> Quantizer:
    """Symmetric per-channel weight quantizer: scale ``alpha · max|w_c| / (2^(b−1) − 1)``."""
    axis %= w.ndim
    red = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.maximum(np.abs(w.astype(np.float64)).max(axis=red), 1e-12)
    qmax = 2 ** (bits - 1) - 1
    scale = (np.asarray(alpha, np.float64) * amax / qmax).astype(np.float32)
    q = Quantizer(bits=bits, scale=scale, zero_point=np.zeros(scale.shape, np.int64), symmetric=True)
    q.extra["axis"] = float(axis)
    return q


def fake_quant_weight(w: np.ndarray, q: Quantizer) -> np.ndarray:
    """The weights on `q`'s symmetric grid ``[−qmax, qmax]``, dequantized (float32)."""
    axis = int(q.extra.get("axis", 0))
    shape = [1] * w.ndim
    shape[axis] = -1
    s = np.asarray(q.scale, np.float64).reshape(shape)
    qmax = 2 ** (q.bits - 1) - 1
    return (np.clip(np.round(w.astype(np.float64) / s), -qmax, qmax) * s).astype(np.float32)


class SimStructure:
    """What the deployed integer graph quantizes, on the rewritten float graph.

    ``groups``: tensor groups that share one quantization (keyed by a root tensor id, in graph
    order); ``stream``: the residual stream's ids (16-bit); ``fixed``: {root: (scale, zp) at 8
    bits} for the graph input's pixel grid; ``softmax``: roots of softmax outputs; ``folds``:
    {MUL output: constant} for the scale-folded MULs (their quantization follows their input).
    """

    def __init__(self, prepared: Graph, preprocess=None) -> None:  # type: ignore[no-untyped-def]
        self.prepared = prepared
        self.graph, self.stream, self.folds = rewrite_for_ivit(prepared)
        g = self.graph
        self.producer = {t: n for n in g.nodes for t in n.outputs}
        self.consumers: dict[int, list] = {}
        for n in g.nodes:
            for t in n.inputs:
                if t >= 0 and not g.tensors[t].is_const:
                    self.consumers.setdefault(t, []).append(n)
        uf = _Groups()
        acts: list[int] = list(g.inputs)
        for node in g.nodes:
            acts.extend(t for t in node.outputs if t not in acts)
            if _rule(node).output == SHARED:
                ins = [t for t in node.inputs if t >= 0 and not g.tensors[t].is_const]
                for t in ins + list(node.outputs):
                    uf.union(ins[0], t)
        for out, _c in self.folds.items():  # a folded MUL's output sits on its input's (scaled) grid
            uf.find(out)
        self.activations = acts
        members: dict[int, list[int]] = {}
        for t in acts:
            members.setdefault(uf.find(t), []).append(t)
        self.groups: dict[int, list[int]] = {min(m): sorted(m) for m in members.values()}
        self.root_of = {t: r for r, ms in self.groups.items() for t in ms}
        self.softmax = {self.root_of[n.outputs[0]] for n in g.nodes if n.op in ("EK_SHIFTMAX", "SOFTMAX")}
        self.post_layernorm = {self.root_of[n.outputs[0]] for n in g.nodes if n.op == "EK_LAYERNORM"}
        self.layernorm_input = {self.root_of[n.inputs[0]] for n in g.nodes if n.op == "EK_LAYERNORM"}
        self.stream_roots = {self.root_of[t] for t in self.stream}
        # outputs of data-movement ops on an already quantized input: re-quantizing is the identity
        self.on_grid = {t for n in g.nodes if _rule(n).output == SHARED and n.op not in _AVERAGING
                        and not any(t >= 0 and g.tensors[t].is_const for t in n.inputs[:1])
                        and not (n.op == "CONCATENATION" and any(g.tensors[t].is_const for t in n.inputs))
                        for t in n.outputs}
        # post-GELU/SiLU groups: every member is a GELU/SiLU output or a data move of one (a concatenation
        # with another tensor is not: its values go below GELU's minimum)
        gelu_out = {n.outputs[0] for n in g.nodes if n.op == "EK_SHIFTGELU"}
        self.post_gelu = {r for r, ms in self.groups.items() if r in gelu_out
                          and all(t in gelu_out or (t in self.on_grid and self.producer[t].op != "CONCATENATION")
                                  for t in ms)}
        self.fold_roots = {self.root_of[t] for t in self.folds}
        self.fixed: dict[int, tuple[float, int]] = {}
        pix = pixel_input_qparams(preprocess) if preprocess is not None else None
        if pix is not None:
            for t in g.inputs:
                self.fixed[self.root_of[t]] = pix

    def searchable(self) -> list[int]:
        """Group roots whose quantizer a method chooses (not fixed, folded, or the stream)."""
        return [r for r in self.groups if r not in self.fixed and r not in self.stream_roots
                and r not in self.fold_roots]

    def channel_ok(self, root: int) -> bool:
        """Per-channel (last axis) quantization is meaningful: every member has the same last dim."""
        dims = {self.graph.tensors[t].shape[-1] if self.graph.tensors[t].shape else 1 for t in self.groups[root]}
        return len(dims) == 1 and dims.pop() > 1

    def weights(self) -> dict[int, int]:
        return weight_axes(self.graph)


@dataclass
class QuantConfig:
    """One quantizer per group root (activations) and per weight tensor id, for a float graph.

    ``graph`` is the prepared float graph the config quantizes (a method that reparameterizes,
    RepQ-ViT, hands its own rewritten copy); ``method`` and ``notes`` describe how it was made.
    """

    prepared: Graph
    structure: SimStructure
    acts: dict[int, Quantizer]
    weights: dict[int, Quantizer]
    w_bits: int
    a_bits: int
    method: str = "minmax"
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def deployable(self) -> bool:
        return self.a_bits == 8 and all(q.deployable for q in self.acts.values()) \
            and all(q.kind == "uniform" for q in self.weights.values())

    def copy(self) -> QuantConfig:
        c = copy.copy(self)
        c.acts = dict(self.acts)
        c.weights = dict(self.weights)
        c.notes = dict(self.notes)
        return c

    def activation_qparams(self) -> dict[int, tuple[float, int]]:
        """{tensor id: (scale, zp)} for every activation of the graph (deployable configs)."""
        out: dict[int, tuple[float, int]] = {}
        st = self.structure
        producer = st.producer
        for root, ms in st.groups.items():
            if root in st.fold_roots:
                continue
            q = self.acts[root]
            for t in ms:
                out[t] = q.qparams()
        for root in sorted(st.fold_roots):  # MUL(x, c): the input's grid times c
            t_in = producer[root].inputs[0]
            s, z = out[t_in]
            for t in st.groups[root]:
                out[t] = (float(np.float32(s * st.folds[root])), z)
        return out


def stream_quantizer(lo: float, hi: float) -> Quantizer:
    amax = max(abs(lo), abs(hi)) or 1e-8
    return Quantizer(bits=STREAM_BITS, scale=np.array(np.float32(amax / INT16_MAX)), zero_point=np.array(0),
                     symmetric=True)


def softmax_quantizer(bits: int) -> Quantizer:
    """The deployed softmax output grid: ``1/2^A``, zero point ``−2^(A−1)`` ([0, 1))."""
    return Quantizer(bits=bits, scale=np.array(np.float32(1.0 / 2 ** bits)), zero_point=np.array(-(2 ** (bits - 1))))


class _SimExecutor(FloatExecutor):
    """The float executor of the rewritten graph with fake-quantized weights."""

    def __init__(self, graph: Graph, device: torch.device, weights: dict[int, np.ndarray]) -> None:
        super().__init__(graph, device)
        self._fq = {tid: torch.from_numpy(w).to(self.device) for tid, w in weights.items()}

    def const(self, tid: int) -> torch.Tensor:
        if tid in self._fq:
            return self._fq[tid]
        return super().const(tid)


class FakeQuantModel:
    """Runs a :class:`QuantConfig` (fake-quant in torch) on preprocessed float inputs."""

    label = LABEL

    def __init__(self, config: QuantConfig, device: str | torch.device | None = "cpu") -> None:
        self.config = config
        st = config.structure
        g = st.graph
        w = {tid: fake_quant_weight(g.tensors[tid].data, q) for tid, q in config.weights.items()}
        self.executor = _SimExecutor(g, device if isinstance(device, torch.device) else torch.device(device or "cpu"),
                                     w)

    @staticmethod
    def quantizer_of(config: QuantConfig, tid: int) -> Quantizer | None:
        st = config.structure
        root = st.root_of.get(tid)
        if root is None or root in st.fold_roots:
            return None
        return config.acts.get(root)

    def quantizer_for(self, tid: int) -> Quantizer | None:
        return self.quantizer_of(self.config, tid)

    def hook(self, tid: int, value: torch.Tensor) -> torch.Tensor | None:
        if not value.is_floating_point():
            return None
        if tid in self.config.structure.on_grid:
            return None
        q = self.quantizer_for(tid)
        return None if q is None else q(value)  # a folded MUL's output is on its input's grid times c

    def forward(self, x: torch.Tensor, keep: bool | list[int] = False) -> dict[int, torch.Tensor]:
        return self.executor.forward([x], hook=self.hook, keep=keep)

    @torch.no_grad()
    def run(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Logits (float) for a preprocessed float batch."""
        outs = []
        out_id = self.config.structure.graph.outputs[0]
        for start in range(0, len(x), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size], np.float32))
            outs.append(self.forward(chunk.to(self.executor.device))[out_id].cpu().numpy())
        return np.concatenate(outs).reshape(len(x), -1)


def minmax_ranges(structure: SimStructure, acts: dict[int, torch.Tensor] | None = None,
                  ranges: dict[int, tuple[float, float]] | None = None) -> dict[int, tuple[float, float]]:
    """Per group root: the union of the members' observed ranges."""
    out: dict[int, tuple[float, float]] = {}
    for root, ms in structure.groups.items():
        lo, hi = math.inf, -math.inf
        for t in ms:
            if ranges is not None and t in ranges:
                a, b = ranges[t]
            elif acts is not None and t in acts:
                a, b = float(acts[t].min()), float(acts[t].max())
            else:
                continue
            lo, hi = min(lo, a), max(hi, b)
        if lo <= hi:
            out[root] = (lo, hi)
    return out


def default_config(prepared: Graph, structure: SimStructure, ranges: dict[int, tuple[float, float]],
                   w_bits: int, a_bits: int, *, method: str = "minmax") -> QuantConfig:
    """Min/max everything: per-tensor asymmetric activations over the union range of each group,
    symmetric per-channel weights at their max |w|, the fixed and stream quantizers."""
    st = structure
    root_ranges = minmax_ranges(st, ranges=ranges)
    acts: dict[int, Quantizer] = {}
    for root in st.groups:
        if root in st.fold_roots:
            continue
        if root in st.fixed:
            s, z = st.fixed[root]
            acts[root] = Quantizer(bits=8, scale=np.array(np.float32(s)), zero_point=np.array(z))
        elif root in st.stream_roots:
            acts[root] = stream_quantizer(*root_ranges[root])
        elif root in st.softmax:
            acts[root] = softmax_quantizer(a_bits)
        else:
            lo, hi = root_ranges[root]
            s, z = uniform_qparams(lo, hi, a_bits, symmetric=False)
            acts[root] = Quantizer(bits=a_bits, scale=s, zero_point=z)
    weights = {tid: weight_quantizer(st.graph.tensors[tid].data, ax, w_bits)
               for tid, ax in st.weights().items() if st.graph.tensors[tid].data.dtype.kind == "f"}
    return QuantConfig(prepared=prepared, structure=st, acts=acts, weights=weights, w_bits=w_bits, a_bits=a_bits,
                       method=method)


def structure_for(graph: Graph, preprocess=None) -> tuple[Graph, SimStructure]:  # type: ignore[no-untyped-def]
    prepared = prepare_graph(graph)
    return prepared, SimStructure(prepared, preprocess)
