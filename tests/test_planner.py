"""The static memory plan is valid (no two buffers alive at the same step share bytes, every
buffer inside the arena), reaches its lower bound on chains, and reuses memory in place."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.frontends.tflite import load_tflite, parse_tflite
from edgekit.lower import lower_graph
from edgekit.plan.memory import MemoryPlan, plan_memory
from edgekit.tflite.writer import build_tflite
from tests.conftest import MLPERF_INT8, shared_model
from tests.modelgen import random_chain


def _assert_valid(plan: MemoryPlan) -> None:
    for b in plan.buffers:
        assert 0 <= b.offset and b.offset + b.size <= plan.arena_bytes
    for i, a in enumerate(plan.buffers):
        for b in plan.buffers[i + 1:]:
            if a.overlaps(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    assert plan.arena_bytes >= plan.lower_bound


@pytest.mark.parametrize("seed", range(20))
def test_plan_valid_on_random_chains(seed: int) -> None:
    graph = parse_tflite(build_tflite(random_chain(np.random.default_rng(seed), n_ops=1 + seed % 6)))
    plan = plan_memory(lower_graph(graph))
    _assert_valid(plan)
    total = sum(t.nbytes for t in graph.tensors if not t.is_const)
    assert plan.arena_bytes <= total


@pytest.mark.parametrize("stem", MLPERF_INT8)
def test_plan_valid_on_mlperf(stem: str) -> None:
    plan = plan_memory(lower_graph(load_tflite(shared_model(stem))))
    _assert_valid(plan)


def test_reshape_is_a_view_and_add_is_in_place() -> None:
    graph = load_tflite(shared_model("pretrainedResnet_quant"))
    model = lower_graph(graph)
    plan = plan_memory(model)
    for layer in model.layers:
        call = layer.call
        if layer.node.op == "RESHAPE":
            assert plan.tensor_offset[call.outputs[0]] == plan.tensor_offset[call.inputs[0]]
    # an ADD fused into the conv that feeds it (edgekit.lower.fuse_residual_adds) counts too
    adds = [lay.call for lay in model.layers if lay.node.op == "ADD" or any(n.op == "ADD" for n in lay.fused)]
    assert any(plan.tensor_offset[c.outputs[0]] in (plan.tensor_offset[c.inputs[0]], plan.tensor_offset[c.inputs[1]])
               for c in adds)
