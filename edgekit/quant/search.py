"""Layer-wise quantizer search on cached calibration activations (the engine of the ViT PTQ methods).

A :class:`Searcher` holds, for the calibration images, every float activation of the rewritten
graph (:class:`edgekit.quant.fakequant.SimStructure`) and, on request, the gradients of the KL
divergence between the quantized and the float model's predictions at every activation (the
diagonal-Hessian weights of PTQ4ViT / Q-HyViT / BRECQ's Fisher loss). A candidate quantizer for a
tensor group (or a weight) is scored by re-running only the nodes it affects:

* **layer target**: the consumer nodes of the group (each conv/FC/matmul/LayerNorm… reading it),
  from the float (parallel calibration) or the currently quantized (sequential) inputs;
* **block target**: for a group inside a bridge block, the nodes from its consumers up to the
  block's output, everything in between quantized as currently chosen (Q-HyViT).

Metrics: ``hessian`` (``Σ (g ⊙ (O_fp − O_q))²``, g the KL gradient at O), ``mse``, ``cosine``
(EasyQuant; returned as ``1 − cos``). Lower is better.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from edgekit.ir.graph import Node
from edgekit.quant.fakequant import FakeQuantModel, QuantConfig, Quantizer, fake_quant_weight
from edgekit.quant.float_exec import FloatExecutor

__all__ = ["Searcher"]


class _NodeRunner(FloatExecutor):
    """Runs single nodes of the rewritten graph with substitutable (fake-quantized) weights."""

    def __init__(self, config: QuantConfig, device: torch.device) -> None:
        super().__init__(config.structure.graph, device)
        self.override: dict[int, torch.Tensor] = {}
        self.set_weights(config)

    def set_weights(self, config: QuantConfig) -> None:
        g = self.graph
        self.wq = {tid: torch.from_numpy(fake_quant_weight(g.tensors[tid].data, q)).to(self.device)
                   for tid, q in config.weights.items()}
        self._prepared.clear()

    def const(self, tid: int) -> torch.Tensor:
        if tid in self.override:
            return self.override[tid]
        if tid in self.wq:
            return self.wq[tid]
        return super().const(tid)

    def prepared(self, tid, kind, fn):  # type: ignore[no-untyped-def]
        if tid in self.override:
            return fn(self.override[tid]).contiguous()
        return super().prepared(tid, kind, fn)

    def node(self, node: Node, args: list[torch.Tensor | None], batch: int) -> list[torch.Tensor]:
        self._batch = batch
        return self._run[node.index](self, node, args)


class Searcher:
    """Cached float activations (and KL gradients) of the calibration images for one config."""

    def __init__(self, config: QuantConfig, x: np.ndarray, device: str | torch.device = "cpu",
                 batch_size: int = 64) -> None:
        self.config = config
        self.st = config.structure
        self.g = self.st.graph
        self.device = torch.device(device)
        self.batch_size = batch_size
        xt = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
        self.n = len(x)
        self.x = xt
        with torch.no_grad():
            env = FloatExecutor(self.g, self.device).forward([xt], keep=True)
        self.fp = {t: v for t, v in env.items() if v.is_floating_point()}
        self.runner = _NodeRunner(config, self.device)
        self.grads: dict[int, torch.Tensor] = {}
        # per-channel (min, max) over more images than the search set, when the caller has them
        self.channel_ranges: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # ---- gradients --------------------------------------------------------------------------
    def compute_grads(self, config: QuantConfig) -> None:
        """∂KL(softmax(pred_q) ‖ softmax(pred_fp)) / ∂O at every activation O, under `config`."""
        model = FakeQuantModel(config, self.device)
        out_id = self.g.outputs[0]
        acc: dict[int, list[torch.Tensor]] = {}
        for start in range(0, self.n, self.batch_size):
            xb = self.x[start:start + self.batch_size].clone().requires_grad_(True)
            held: dict[int, torch.Tensor] = {}

            def hook(tid: int, value: torch.Tensor, held: dict[int, torch.Tensor] = held) -> torch.Tensor | None:
                new = model.hook(tid, value)
                v = value if new is None else new
                if v.requires_grad:
                    v.retain_grad()
                    held[tid] = v
                return new

            with torch.enable_grad():
                env = model.executor.forward([xb], hook=hook, keep=True)
                pred = env[out_id].reshape(len(xb), -1)
                target = F.softmax(self.fp[out_id][start:start + len(xb)].reshape(len(xb), -1), -1)
                loss = F.kl_div(F.log_softmax(pred, -1), target, reduction="batchmean")
                loss.backward()
            for tid, v in held.items():
                if v.grad is not None:
                    acc.setdefault(tid, []).append(v.grad.detach())
        self.grads = {t: torch.cat(v) for t, v in acc.items()}

    # ---- scoring ------------------------------------------------------------------------------
    def score(self, out_id: int, value: torch.Tensor, metric: str) -> float:
        ref = self.fp[out_id]
        if metric == "hessian" and out_id in self.grads:
            return float(((self.grads[out_id] * (value - ref)) ** 2).sum())
        if metric == "cosine":
            a, b = value.reshape(len(value), -1), ref.reshape(len(ref), -1)
            return float(1.0 - F.cosine_similarity(a, b, dim=1).mean())
        return float(((value - ref) ** 2).sum())

    def quantized_input(self, tid: int, config: QuantConfig,
                        sequential: dict[int, torch.Tensor] | None) -> torch.Tensor:
        if sequential is not None and tid in sequential:
            return sequential[tid]
        v = self.fp[tid]
        if tid in self.st.on_grid:
            return v
        q = FakeQuantModel.quantizer_of(config, tid)
        return v if q is None else q(v.clone())

    def consumers(self, root: int) -> list[Node]:
        members = set(self.st.groups[root])
        seen: dict[int, Node] = {}
        for t in members:
            for n in self.st.consumers.get(t, []):
                if not set(n.outputs) & members:
                    seen[n.index] = n
        return [seen[k] for k in sorted(seen)]

    @torch.no_grad()
    def run_nodes(self, nodes: list[Node], config: QuantConfig, values: dict[int, torch.Tensor],
                  quantize_outputs: bool) -> dict[int, torch.Tensor]:
        """Run `nodes` (graph order) with `values` given; other inputs from the (quantized) float cache."""
        env = dict(values)
        for node in nodes:
            args: list[torch.Tensor | None] = []
            for t in node.inputs:
                if t < 0:
                    args.append(None)
                elif self.g.tensors[t].is_const:
                    args.append(self.runner.const(t))
                elif t in env:
                    args.append(env[t])
                else:
                    args.append(self.quantized_input(t, config, None))
            outs = self.runner.node(node, args, self.n)
            for t, y in zip(node.outputs, outs, strict=True):
                if quantize_outputs and t not in self.st.on_grid:
                    q = FakeQuantModel.quantizer_of(config, t)
                    if q is not None:
                        y = q(y)
                env[t] = y
        return env

    @torch.no_grad()
    def group_loss(self, root: int, q: Quantizer, config: QuantConfig, metric: str,
                   block: list[Node] | None = None, base: dict[int, torch.Tensor] | None = None) -> float:
        """Loss of quantizer `q` on group `root` at its consumers' outputs (or the block output)."""
        members = self.st.groups[root]
        vals = {}
        for t in members:
            if t in self.st.on_grid:
                continue
            vals[t] = q(self.fp[t].clone())
        cons = self.consumers(root)
        if not cons:
            return sum(self.score(t, v, metric) for t, v in vals.items())
        # members produced from other members by data movement: recompute them from the quantized root
        moves = [n for n in self.g.nodes if set(n.outputs) & set(members) and n.outputs[0] in self.st.on_grid]
        if block is not None:
            out = block[-1].outputs[0]
            if out in vals:
                return self.score(out, vals[out], metric)
            start = min(c.index for c in cons)
            span = [n for n in block if n.index >= start]
            env = self.run_nodes(sorted(moves + span, key=lambda n: n.index), config, {**(base or {}), **vals},
                                 quantize_outputs=True)
            return self.score(out, env[out], metric)
        env = self.run_nodes(sorted(moves + cons, key=lambda n: n.index), config, vals, quantize_outputs=False)
        return sum(self.score(c.outputs[0], env[c.outputs[0]], metric) for c in cons)

    @torch.no_grad()
    def weight_loss(self, node: Node, w_tid: int, q: Quantizer, config: QuantConfig, metric: str,
                    block: list[Node] | None = None, base: dict[int, torch.Tensor] | None = None) -> float:
        w = self.g.tensors[w_tid].data
        self.runner.override = {w_tid: torch.from_numpy(fake_quant_weight(w, q)).to(self.device)}
        try:
            if block is not None:
                span = [n for n in block if n.index >= node.index]
                env = self.run_nodes(span, config, dict(base or {}), quantize_outputs=True)
                out = block[-1].outputs[0]
                return self.score(out, env[out], metric)
            env = self.run_nodes([node], config, {}, quantize_outputs=False)
            return self.score(node.outputs[0], env[node.outputs[0]], metric)
        finally:
            self.runner.override = {}
