"""Post-training quantization methods for (hybrid) vision transformers, on the full simulation.

Every method returns a :class:`edgekit.quant.fakequant.QuantConfig` for the same deployable
graph (:class:`~edgekit.quant.fakequant.SimStructure`) and differs only in how it picks the
quantizers; all of them see the same calibration images. Reimplemented from the papers and
their code (``../shared/research/algorithms.md`` §3, §6):

* ``minmax`` / ``percentile`` / ``mse`` — range observers (``edgekit.quant.observers``) over all
  calibration images, per-tensor asymmetric activations, per-channel min/max weights;
* ``omse`` (Choukroun et al. 2019) — the L2-optimal scale of every activation and of every
  weight channel, each on its own tensor (100-point grid of the min/max scale);
* ``easyquant`` (Wu et al. 2020) — alternating search of each layer's weight scale and input
  scale maximizing the cosine similarity of the layer output, ``[0.5, 1.2]·Δ0``, 3 rounds;
* ``ptq4vit`` (Yuan et al. 2022) — twin-uniform quantizers for post-softmax and post-GELU/SiLU
  values, Hessian-guided scale search (KL gradients at each layer output), ``[0.01, 1.2]·Δ0``,
  100 candidates, 3 rounds, parallel calibration;
* ``repqvit`` (Li et al. 2023) — post-LayerNorm activations channel-wise asymmetric, then
  reparameterized into a per-tensor quantizer by rescaling LayerNorm's γ/β and the next linear
  layer's weights and bias (:func:`reparameterize_layernorm`); log√2 quantizer for post-softmax;
  percentile {99.9, 99.99, 99.999} scales by L2 error;
* ``fqvit`` (Lin et al. 2022) — power-of-two factors per channel for LayerNorm inputs (PTF)
  where they are 8-bit, log2 (log-int softmax) for post-softmax, min/max elsewhere;
* ``qhyvit`` (Lee et al. 2023) — Hessian-guided joint search of scale (100 candidates,
  ``[0.01, 1.2]·Δ0``), granularity (per tensor / per channel) and scheme (symmetric / asymmetric)
  per tensor, 3 rounds; bridge blocks (conv↔transformer transitions found in the graph,
  :func:`bridge_blocks`) are reconstructed at the block output and calibrated sequentially (their
  inputs from the quantized model); zero points never overflow (ranges always hold 0).
  ``variant="code"`` is the public code's heuristic instead of the granularity/scheme search:
  per-channel for depthwise inputs, per tensor elsewhere, symmetric only. ``deployable=True``
  allows per-channel activations only where they fold into per-tensor ones exactly
  (LayerNorm outputs read only by linear layers: the RepQ-ViT reparameterization).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from edgekit.data import Preprocess
from edgekit.errors import DataError, UnsupportedOpError
from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.quant.calibrate import CalibrationResult, calibrate
from edgekit.quant.fakequant import (
    WEIGHTED_OPS,
    QuantConfig,
    Quantizer,
    SimStructure,
    default_config,
    qrange,
    uniform_qparams,
    weight_quantizer,
)
from edgekit.quant.ivit import build_integer_graph
from edgekit.quant.ptq import PTQResult, l2_weight_scales, prepare_graph
from edgekit.quant.search import Searcher

__all__ = ["METHODS", "OBSERVER_METHODS", "quantize_method", "bridge_blocks", "reparameterize_layernorm",
           "MethodResult", "integer_graph"]

OBSERVER_METHODS = ("minmax", "percentile", "mse", "omse")
METHODS = OBSERVER_METHODS + ("easyquant", "ptq4vit", "repqvit", "fqvit", "qhyvit")
#: Q-HyViT variants: the paper's search (``paper``), the public code's heuristic (``code``), and the
#: ablation steps (``scale``: scale search only; ``granularity``: + per-layer granularity; ``scheme``:
#: + symmetric/asymmetric; ``paper`` adds bridge-block reconstruction)
QHYVIT_VARIANTS = ("paper", "code", "scale", "granularity", "scheme")
GELU_MIN = {1.702: -0.17, 1.0: -0.2785}  # the minimum of x·σ(αx): the negative range of post-GELU/SiLU values


@dataclass
class MethodResult:
    config: QuantConfig
    seconds: float  # calibration + search
    device: str
    calibration_images: int
    search_images: int


# ------------------------------------------------------------------------------------------------
# bridge blocks


def _domain(g: Graph, node: Node) -> str | None:
    """``conv`` / ``token`` for the nodes that say which part of a hybrid they belong to."""
    if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return "conv"
    if node.op in ("EK_LAYERNORM", "EK_SHIFTMAX", "BATCH_MATMUL", "EK_RESIDUAL_ADD"):
        return "token"
    if node.op == "FULLY_CONNECTED" and len(g.tensors[node.inputs[0]].shape) >= 3:
        return "token"
    return None


def bridge_blocks(structure: SimStructure) -> list[list[Node]]:
    """The conv↔transformer transition blocks of a hybrid, from the graph alone.

    At each change of domain between consecutive typed nodes (conv: convolutions and pooling on
    NHWC maps; token: LayerNorm, attention, residual adds, FC on token sequences), the block runs
    from the last weighted layer of the old domain to the first weighted layer of the new one,
    inclusive: e.g. MobileViT's 1×1 conv → unfold → LayerNorm → qkv FC, and its last FC → fold →
    1×1 conv; EfficientFormer's last pooling MetaBlock conv → flatten → first attention block FC.
    """
    g = structure.graph
    typed = [(n, _domain(g, n)) for n in g.nodes]
    typed = [(n, d) for n, d in typed if d is not None]
    blocks: list[list[Node]] = []
    for (a, da), (b, db) in zip(typed, typed[1:], strict=False):
        if da == db:
            continue
        start = max((n.index for n in g.nodes[:a.index + 1] if n.op in WEIGHTED_OPS), default=a.index)
        end = min((n.index for n in g.nodes[b.index:] if n.op in WEIGHTED_OPS), default=b.index)
        blocks.append(g.nodes[start:end + 1])
    return blocks


# ------------------------------------------------------------------------------------------------
# candidates


def _alphas(lo: float, hi: float, n: int) -> np.ndarray:
    return lo + (hi - lo) * np.arange(1, n + 1) / n


def _uniform(lo: np.ndarray, hi: np.ndarray, bits: int, symmetric: bool, alpha: float) -> Quantizer:
    s, z = uniform_qparams(alpha * lo, alpha * hi, bits, symmetric)
    return Quantizer(bits=bits, scale=s, zero_point=z, symmetric=symmetric)


def _channel_range(searcher: Searcher, root: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (min, max) of a group: over all calibration images where they were observed
    (:func:`channel_ranges`), else over the search images."""
    seen = searcher.channel_ranges
    ts = [t for t in searcher.st.groups[root] if t in seen]
    if ts:
        return np.min([seen[t][0] for t in ts], axis=0), np.max([seen[t][1] for t in ts], axis=0)
    vals = [searcher.fp[t] for t in searcher.st.groups[root] if t in searcher.fp]
    c = vals[0].shape[-1]
    flat = torch.cat([v.reshape(-1, c) for v in vals])
    return flat.min(0).values.double().cpu().numpy(), flat.max(0).values.double().cpu().numpy()


def channel_ranges(st: SimStructure, calib: np.ndarray, device: torch.device,
                   batch_size: int = 100) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{tensor id: per-channel (min, max) over the last axis} of every activation a per-channel
    quantizer may take (``st.channel_ok``), streamed over all of `calib` (float64)."""
    from edgekit.quant.float_exec import FloatExecutor

    wanted = {t for r in st.searchable() if st.channel_ok(r) for t in st.groups[r]}
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def hook(tid: int, value: torch.Tensor) -> None:
        if tid not in wanted or not value.is_floating_point():
            return
        flat = value.reshape(-1, value.shape[-1])
        lo, hi = flat.min(0).values.double().cpu().numpy(), flat.max(0).values.double().cpu().numpy()
        if tid in out:
            lo, hi = np.minimum(out[tid][0], lo), np.maximum(out[tid][1], hi)
        out[tid] = (lo, hi)

    ex = FloatExecutor(st.graph, device)
    with torch.no_grad():
        for start in range(0, len(calib), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(calib[start:start + batch_size], np.float32)).to(device)
            ex.forward([xb], hook=hook)
    return out


def _tensor_range(ranges: dict[int, tuple[float, float]], st: SimStructure, root: int) -> tuple[float, float]:
    lo = min(ranges[t][0] for t in st.groups[root] if t in ranges)
    hi = max(ranges[t][1] for t in st.groups[root] if t in ranges)
    return lo, hi


def _group_of_block(blocks: list[list[Node]], st: SimStructure) -> tuple[dict[int, int], dict[int, int]]:
    """{group root: block index}, {weighted node index: block index} for what lies inside bridge blocks."""
    groups: dict[int, int] = {}
    nodes: dict[int, int] = {}
    for k, block in enumerate(blocks):
        for n in block:
            nodes[n.index] = k
            for t in n.outputs:
                groups.setdefault(st.root_of[t], k)
    return groups, nodes


# ------------------------------------------------------------------------------------------------
# the search loop shared by EasyQuant, PTQ4ViT and Q-HyViT


@dataclass
class SearchSpec:
    metric: str  # hessian | cosine | mse
    alpha_lo: float
    alpha_hi: float
    candidates: int
    rounds: int
    granularities: tuple[str, ...] = ("tensor",)
    schemes: tuple[bool, ...] = (False,)  # symmetric?
    bridge: bool = False
    granularity_rule: Callable[[int], tuple[str, ...]] | None = None
    twin: bool = False  # PTQ4ViT twin-uniform for post-softmax / post-GELU
    weights_only_layers: bool = False  # EasyQuant: only the inputs of weighted layers are searched


def _weighted_nodes(st: SimStructure) -> list[Node]:
    return [n for n in st.graph.nodes if n.op in WEIGHTED_OPS and n.inputs[1] in st.weights()
            and st.graph.tensors[n.inputs[1]].data.dtype.kind == "f"]


def _twin_candidates(st: SimStructure, root: int, bits: int, lo: float, hi: float,
                     alphas: np.ndarray) -> list[Quantizer]:
    if root in st.softmax:
        return [Quantizer(bits=bits, scale=np.array(np.float32(1.0)), zero_point=np.array(0), kind="twin_softmax",
                          extra={"split": 2.0 ** -k}) for k in range(0, 12)]
    node = st.producer[root]
    neg = GELU_MIN.get(round(float(node.attrs.get("alpha", 1.702)), 3), -0.17)
    n = 2 ** (bits - 1)
    return [Quantizer(bits=bits, scale=np.array(np.float32(a * max(hi, 1e-8) / (n - 1))), zero_point=np.array(0),
                      kind="twin_act", extra={"neg_scale": abs(neg) / n}) for a in alphas]


def _search(config: QuantConfig, searcher: Searcher, ranges: dict[int, tuple[float, float]], spec: SearchSpec,
            progress: bool) -> QuantConfig:
    from tqdm.auto import tqdm

    st = config.structure
    cfg = config.copy()
    alphas = _alphas(spec.alpha_lo, spec.alpha_hi, spec.candidates)
    blocks = bridge_blocks(st) if spec.bridge else []
    block_of_group, block_of_node = _group_of_block(blocks, st)
    weighted = _weighted_nodes(st)
    weighted_inputs = {st.root_of[n.inputs[0]] for n in weighted}
    roots = [r for r in st.searchable() if r not in st.softmax or spec.twin]
    if spec.weights_only_layers:
        roots = [r for r in roots if r in weighted_inputs]
    choices: dict[int, str] = {}
    per_ch = {r: _channel_range(searcher, r) for r in roots if st.channel_ok(r)}
    seq_env: dict[int, torch.Tensor] = {}
    current_block = -1
    total = spec.rounds * (len(weighted) + len(roots))
    bar = tqdm(total=total, desc=f"searching ({cfg.method})", unit="tensor", disable=not progress, leave=False)
    items: list[tuple[int, str, object]] = []
    for n in weighted:
        items.append((n.index, "w", n))
    for r in roots:
        items.append((st.producer[r].index if r in st.producer else -1, "a", r))
    items.sort(key=lambda it: (it[0], it[1] == "a"))
    for _round in range(spec.rounds):
        current_block = -1
        for _idx, kind, obj in items:
            if kind == "w":
                node = obj  # type: ignore[assignment]
                bidx = block_of_node.get(node.index)  # type: ignore[union-attr]
            else:
                bidx = block_of_group.get(obj)  # type: ignore[arg-type]
            block = blocks[bidx] if bidx is not None else None
            if block is not None and bidx != current_block:  # sequential: inputs from the quantized model so far
                current_block = bidx
                seq_env = _quantized_env(searcher, cfg)
            base = seq_env if block is not None else {}
            if kind == "w":
                node = obj  # type: ignore[assignment]
                w_tid = node.inputs[1]  # type: ignore[union-attr]
                w = st.graph.tensors[w_tid].data
                ax = int(cfg.weights[w_tid].extra["axis"])
                best = None
                for a in alphas:
                    q = weight_quantizer(w, ax, cfg.w_bits, a)
                    loss = searcher.weight_loss(node, w_tid, q, cfg, spec.metric, block, base)  # type: ignore[arg-type]
                    if best is None or loss < best[0]:
                        best = (loss, q)
                assert best is not None
                cfg.weights[w_tid] = best[1]
                searcher.runner.set_weights(cfg)
            else:
                root = obj  # type: ignore[assignment]
                lo, hi = _tensor_range(ranges, st, root)  # type: ignore[arg-type]
                cands: list[tuple[str, Quantizer]] = []
                if spec.twin and (root in st.softmax or root in st.post_gelu):
                    cands = [("twin", q) for q in _twin_candidates(st, root, cfg.a_bits, lo, hi, alphas)]  # type: ignore[arg-type]
                else:
                    grans = spec.granularity_rule(root) if spec.granularity_rule else spec.granularities  # type: ignore[arg-type]
                    for gran in grans:
                        if gran == "channel" and root not in per_ch:
                            continue
                        if _round > 0 and root in choices and not choices[root].startswith(gran):
                            continue  # later rounds refine the scale of the granularity/scheme round 1 chose
                        clo, chi = (per_ch[root] if gran == "channel" else (np.array(lo), np.array(hi)))  # type: ignore[index]
                        for sym in spec.schemes:
                            if _round > 0 and root in choices and choices[root] != f"{gran}/{'sym' if sym else 'asym'}":
                                continue
                            for a in alphas:
                                cands.append((f"{gran}/{'sym' if sym else 'asym'}",
                                              _uniform(clo, chi, cfg.a_bits, sym, float(a))))
                best_c = None
                for label, q in cands:
                    loss = searcher.group_loss(root, q, cfg, spec.metric, block, base)  # type: ignore[arg-type]
                    if best_c is None or loss < best_c[0]:
                        best_c = (loss, label, q)
                assert best_c is not None
                cfg.acts[root] = best_c[2]  # type: ignore[index]
                choices[root] = best_c[1]  # type: ignore[index]
            bar.update(1)
    bar.close()
    cfg.notes["choices"] = _count(choices.values())
    cfg.notes["bridge_blocks"] = [[n.index for n in b][:1] + [b[-1].index] for b in blocks]
    return cfg


def _count(labels) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out: dict[str, int] = {}
    for lab in labels:
        out[lab] = out.get(lab, 0) + 1
    return dict(sorted(out.items()))


def _quantized_env(searcher: Searcher, cfg: QuantConfig) -> dict[int, torch.Tensor]:
    from edgekit.quant.fakequant import FakeQuantModel

    with torch.no_grad():
        env = FakeQuantModel(cfg, searcher.device).forward(searcher.x, keep=True)
    return {t: v for t, v in env.items() if v.is_floating_point()}


# ------------------------------------------------------------------------------------------------
# simple baselines


def _l2_best(values: torch.Tensor, make: Callable[[float], Quantizer], alphas: np.ndarray) -> Quantizer:
    best = None
    for a in alphas:
        q = make(float(a))
        err = float(((q(values.clone()) - values) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, q)
    assert best is not None
    return best[1]


def _omse(cfg: QuantConfig, searcher: Searcher, ranges: dict[int, tuple[float, float]]) -> QuantConfig:
    st = cfg.structure
    out = cfg.copy()
    alphas = _alphas(0.01, 1.0, 100)
    for root in st.searchable():
        if root in st.softmax:
            continue
        lo, hi = _tensor_range(ranges, st, root)
        vals = torch.cat([searcher.fp[t].reshape(-1) for t in st.groups[root] if t in searcher.fp])
        out.acts[root] = _l2_best(vals, lambda a, lo=lo, hi=hi: _uniform(np.array(lo), np.array(hi), cfg.a_bits,
                                                                        False, a), alphas)
    for w_tid, q in cfg.weights.items():  # per channel, each channel its own L2-optimal scale
        w = st.graph.tensors[w_tid].data
        ax = int(q.extra["axis"])
        scales = l2_weight_scales(w, ax % w.ndim, cfg.w_bits)
        out.weights[w_tid] = replace(q, scale=scales, _cache={})
    return out


def _fqvit(cfg: QuantConfig, searcher: Searcher, ranges: dict[int, tuple[float, float]]) -> QuantConfig:
    st = cfg.structure
    out = cfg.copy()
    for root in st.softmax:
        out.acts[root] = Quantizer(bits=cfg.a_bits, scale=np.array(1.0), zero_point=np.array(0), kind="log2")
    for root in st.layernorm_input:  # PTF: per-channel scale s1·2^α_c, α_c ∈ {0..3}, one zero point
        if root not in st.searchable() or not st.channel_ok(root):
            continue
        lo, hi = _tensor_range(ranges, st, root)
        s8, zp = uniform_qparams(lo, hi, cfg.a_bits, False)
        s1 = float(s8) / 8
        vals = torch.cat([searcher.fp[t].reshape(-1, searcher.fp[t].shape[-1]) for t in st.groups[root]
                          if t in searcher.fp])
        qmin, qmax = qrange(cfg.a_bits)
        errs = []
        for k in range(4):
            s = s1 * 2 ** k
            q = (torch.clamp(torch.round(vals / s) + int(zp), qmin, qmax) - int(zp)) * s
            errs.append(((q - vals) ** 2).sum(0))
        alpha = torch.stack(errs).argmin(0).cpu().numpy()
        scale = (s1 * 2.0 ** alpha).astype(np.float32)
        out.acts[root] = Quantizer(bits=cfg.a_bits, scale=scale, zero_point=np.full(scale.shape, int(zp)),
                                   kind="pot_channel")
    return out


# ------------------------------------------------------------------------------------------------
# RepQ-ViT's reparameterization of post-LayerNorm activations


def _linear_consumers(st: SimStructure, root: int) -> list[Node] | None:
    """The FC / 1×1 conv layers reading a LayerNorm output directly, or None if another op reads it."""
    if len(st.groups[root]) != 1:
        return None
    cons = st.consumers.get(root, [])
    ok = []
    for n in cons:
        w = st.graph.tensors[n.inputs[1]] if len(n.inputs) > 1 else None
        if n.op == "FULLY_CONNECTED" and w is not None and w.is_const and n.inputs[0] == root:
            ok.append(n)
        elif n.op == "CONV_2D" and w is not None and w.is_const and w.shape[1:3] == (1, 1) and n.inputs[0] == root:
            ok.append(n)
        else:
            return None
    return ok or None


def reparameterize_layernorm(prepared: Graph, structure: SimStructure,
                             per_channel: dict[int, Quantizer]) -> tuple[Graph, dict[int, Quantizer]]:
    """Fold per-channel LayerNorm output quantizers into per-tensor ones (RepQ-ViT).

    For LayerNorm output ``x`` with channel scales Δ_c and zero points z_c: Δ̃ = mean Δ_c,
    z̃ = round(mean z_c), ``r_c = Δ_c/Δ̃``, ``b_c = (z̃ − z_c)·Δ̃`` (so that ``x/r − b`` on the grid
    (Δ̃, z̃) is exactly x on the grid (Δ_c, z_c)); γ ← γ/r, β ← β/r − b, and every linear layer
    reading ``x``: ``W[:, c] ← W[:, c]·r_c``, ``bias ← bias + W'·b``. Returns the rewritten prepared
    graph (a copy; new bias tensors appended) and {root: per-tensor quantizer}.
    """
    g = copy.deepcopy(prepared)
    st = structure
    new_q: dict[int, Quantizer] = {}
    for root, q in per_channel.items():
        node = st.producer[root]
        cons = _linear_consumers(st, root)
        if cons is None or node.op != "EK_LAYERNORM" or not q.per_channel:
            continue
        scale = np.asarray(q.scale, np.float64)
        zps = np.asarray(q.zero_point, np.float64)
        s_t = float(np.float32(scale.mean()))
        z_t = int(np.round(zps.mean()))
        r = scale / s_t
        b = (z_t - zps) * s_t
        gamma, beta = g.tensors[node.inputs[1]], g.tensors[node.inputs[2]]
        gamma.data = (gamma.data.astype(np.float64) / r).astype(np.float32)
        beta.data = (beta.data.astype(np.float64) / r - b).astype(np.float32)
        for c in cons:
            w = g.tensors[c.inputs[1]]
            w64 = w.data.astype(np.float64)  # FC [out, in]; 1x1 conv [out, 1, 1, in]
            w_new = w64 * r.reshape((1,) * (w64.ndim - 1) + (-1,))
            extra = w_new.reshape(w_new.shape[0], -1) @ b
            w.data = w_new.astype(np.float32)
            if len(c.inputs) > 2 and c.inputs[2] >= 0:
                bt = g.tensors[c.inputs[2]]
                bt.data = (bt.data.astype(np.float64) + extra).astype(np.float32)
            else:
                tid = len(g.tensors)
                g.tensors.append(Tensor(id=tid, name=f"{w.name}_repq_bias", shape=(w_new.shape[0],), dtype="float32",
                                        data=extra.astype(np.float32)))
                if len(c.inputs) > 2:
                    c.inputs[2] = tid
                else:
                    c.inputs.append(tid)
        new_q[root] = Quantizer(bits=q.bits, scale=np.array(np.float32(s_t)), zero_point=np.array(z_t),
                                symmetric=q.symmetric)
    return g, new_q


def _rebuild(cfg: QuantConfig, prepared: Graph, acts: dict[int, Quantizer], preprocess: Preprocess | None,
             ranges: dict[int, tuple[float, float]]) -> QuantConfig:
    """The config on a reparameterized graph: same activation quantizers, weights re-initialized."""
    st = SimStructure(prepared, preprocess)
    base = default_config(prepared, st, ranges, cfg.w_bits, cfg.a_bits, method=cfg.method)
    base.acts.update({r: q for r, q in cfg.acts.items() if r in base.acts})
    base.acts.update(acts)
    for tid, q in cfg.weights.items():  # keep searched weight scales where the weights did not change
        w_old = cfg.structure.graph.tensors[tid].data
        if tid in base.weights and np.array_equal(w_old, st.graph.tensors[tid].data):
            base.weights[tid] = q
    base.notes = dict(cfg.notes)
    return base


def _log_sqrt2(bits: int) -> Quantizer:
    return Quantizer(bits=bits, scale=np.array(1.0), zero_point=np.array(0), kind="log_sqrt2")


# ------------------------------------------------------------------------------------------------
# entry point


def _float_weight_check(st: SimStructure) -> None:
    for tid in st.weights():
        if st.graph.tensors[tid].data.dtype.kind != "f":
            raise DataError("the model's weights are already quantized; give the float model to these methods")


def quantize_method(graph: Graph, calib: np.ndarray, preprocess: Preprocess | None, method: str, w_bits: int = 8,
                    a_bits: int = 8, *, device: str | None = "cpu", search_images: int = 32,
                    variant: str = "paper", deployable: bool = False, progress: bool = True,
                    candidates: int = 100, rounds: int = 3) -> MethodResult:
    """Choose every quantizer of `graph` (a float model) with `method` on the calibration images.

    Range observers see all of `calib`; the searches score candidates on its first
    `search_images` images (the papers use 32). `candidates` scales per search (100) and
    `rounds` (3) are the papers' values; smaller ones only make quick checks quicker.
    """
    budget = {"candidates": candidates, "rounds": rounds}
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    prepared = prepare_graph(graph)
    st = SimStructure(prepared, preprocess)
    _float_weight_check(st)
    observer = method if method in ("minmax", "percentile", "mse") else "minmax"
    cal = calibrate(prepared, calib, observer, device=device, progress=progress)
    ranges = cal.ranges
    cfg = default_config(prepared, st, ranges, w_bits, a_bits, method=method)
    if method in ("minmax", "percentile", "mse"):
        return MethodResult(cfg, time.perf_counter() - t0, cal.device, len(calib), 0)
    n_search = min(len(calib), search_images)
    searcher = Searcher(cfg, calib[:n_search], cal.device)
    if len(calib) > n_search:  # per-channel ranges, like the per-tensor ones, from every calibration image
        searcher.channel_ranges = channel_ranges(st, calib, searcher.device)
    if method == "omse":
        cfg = _omse(cfg, searcher, ranges)
    elif method == "fqvit":
        cfg = _fqvit(cfg, searcher, ranges)
    elif method == "easyquant":
        cfg = _search(cfg, searcher, ranges, SearchSpec(metric="cosine", alpha_lo=0.5, alpha_hi=1.2,
                                                        weights_only_layers=True, **budget), progress)
    elif method == "ptq4vit":
        searcher.compute_grads(cfg)
        cfg = _search(cfg, searcher, ranges, SearchSpec(metric="hessian", alpha_lo=0.0, alpha_hi=1.2, twin=True,
                                                        **budget), progress)
    elif method == "repqvit":
        cfg = _repqvit(cfg, searcher, ranges, preprocess, deployable)
    elif method == "qhyvit":
        cfg = _qhyvit(cfg, searcher, ranges, preprocess, variant, deployable, progress, budget)
    cfg.method = method
    return MethodResult(cfg, time.perf_counter() - t0, cal.device, len(calib), n_search)


def _repqvit(cfg: QuantConfig, searcher: Searcher, ranges: dict[int, tuple[float, float]],
             preprocess: Preprocess | None, deployable: bool) -> QuantConfig:
    st = cfg.structure
    out = cfg.copy()
    for root in st.searchable():  # percentile scales by L2 error
        if root in st.softmax:
            continue
        vals = torch.cat([searcher.fp[t].reshape(-1) for t in st.groups[root] if t in searcher.fp])
        best = None
        for p in (0.999, 0.9999, 0.99999):
            k_lo = max(1, int(round((1 - p) * vals.numel())))
            lo = float(torch.kthvalue(vals.cpu(), k_lo).values)
            hi = float(torch.kthvalue(vals.cpu(), max(1, vals.numel() - k_lo + 1)).values)
            q = _uniform(np.array(lo), np.array(hi), cfg.a_bits, False, 1.0)
            err = float(((q(vals.clone()) - vals) ** 2).sum())
            if best is None or err < best[0]:
                best = (err, q)
        assert best is not None
        out.acts[root] = best[1]
    per_ch: dict[int, Quantizer] = {}
    for root in st.post_layernorm:  # channel-wise asymmetric, then reparameterized to per tensor
        if root in st.searchable() and st.channel_ok(root) and _linear_consumers(st, root) is not None:
            lo, hi = _channel_range(searcher, root)
            per_ch[root] = _uniform(lo, hi, cfg.a_bits, False, 1.0)
    if not deployable:
        for root in st.softmax:
            out.acts[root] = _log_sqrt2(cfg.a_bits)
    g2, new_q = reparameterize_layernorm(out.prepared, st, per_ch)
    rebuilt = _rebuild(out, g2, new_q, preprocess, ranges)
    rebuilt.notes["reparameterized_layernorms"] = len(new_q)
    return rebuilt


def _qhyvit(cfg: QuantConfig, searcher: Searcher, ranges: dict[int, tuple[float, float]],
            preprocess: Preprocess | None, variant: str, deployable: bool, progress: bool,
            budget: dict[str, int]) -> QuantConfig:
    st = cfg.structure
    searcher.compute_grads(cfg)
    foldable = {r for r in st.post_layernorm if _linear_consumers(st, r) is not None}
    dw_inputs = {st.root_of[n.inputs[0]] for n in st.graph.nodes if n.op == "DEPTHWISE_CONV_2D"}

    def rule(root: int) -> tuple[str, ...]:
        if variant == "code":
            return ("channel",) if root in dw_inputs and not deployable else ("tensor",)
        if deployable and root not in foldable:
            return ("tensor",)
        return ("tensor", "channel")

    if variant not in QHYVIT_VARIANTS:
        raise DataError(f"unknown Q-HyViT variant {variant!r}; use one of {', '.join(QHYVIT_VARIANTS)}")
    # the ablation steps: scale search only; + granularity; + scheme; + bridge blocks (= paper)
    schemes = (True,) if variant == "code" else (False, True) if variant in ("scheme", "paper") else (False,)
    if variant == "scale":
        def rule(root: int) -> tuple[str, ...]:  # noqa: F811 - the ablation's first step: per tensor only
            return ("tensor",)
    spec = SearchSpec(metric="hessian", alpha_lo=0.01, alpha_hi=1.2, schemes=schemes,
                      bridge=variant in ("paper", "code"), granularity_rule=rule, **budget)
    out = _search(cfg, searcher, ranges, spec, progress)
    per_ch = {r: q for r, q in out.acts.items() if q.per_channel and r in foldable}
    if deployable and per_ch:
        g2, new_q = reparameterize_layernorm(out.prepared, st, per_ch)
        out = _rebuild(out, g2, new_q, preprocess, ranges)
        out.notes["reparameterized_layernorms"] = len(new_q)
    out.notes["variant"] = variant
    return out



def integer_graph(result: MethodResult, name: str, preprocess: Preprocess,
                  description: dict[str, object] | None = None) -> PTQResult:
    """The deployable integer graph of a method's config (per-tensor uniform activations at 8 bits,
    the int16 stream, searched weight scales at their bit width: int4 packed, W6 in int8 storage)."""
    cfg = result.config
    bad = sorted({q.kind if q.kind != "uniform" else "per-channel" for q in cfg.acts.values() if not q.deployable})
    if cfg.a_bits != 8 or bad:
        raise UnsupportedOpError(
            f"--method {cfg.method} at W{cfg.w_bits}A{cfg.a_bits} chose quantizers the integer kernels cannot run "
            f"({', '.join(bad) or f'{cfg.a_bits}-bit activations'}); deployable models use 8-bit per-tensor "
            "activations: try --bits W8A8 or W4A8 with --method qhyvit, ptq, omse or easyquant")
    cal = CalibrationResult(ranges={}, observers={}, samples=result.calibration_images, seconds=result.seconds,
                            device=result.device)
    weight_q = {tid: (np.asarray(q.scale, np.float32), q.bits) for tid, q in cfg.weights.items()}
    extra = {"method": cfg.method, "bits": f"W{cfg.w_bits}A{cfg.a_bits}",
             "calibration_samples": result.calibration_images, "search_samples": result.search_images,
             **(description or {})}
    st = cfg.structure
    return build_integer_graph(name, cfg.prepared, st.graph, st.stream, cfg.activation_qparams(), preprocess, cal,
                               extra, weight_q=weight_q)
