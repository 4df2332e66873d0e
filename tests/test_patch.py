"""Patch-based inference (edgekit.patch): the patch model's generated C equals the layer-by-layer C
(and TFLite Micro) bit for bit on CNNs the tests build (strided and padded convolutions, depthwise,
pools, residual adds whose skip tile is cropped, PAD folded into the convolution), its arena is
smaller, and the CLI plans, refuses and proposes patches."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit import pipeline
from edgekit.cli import main
from edgekit.errors import EdgekitError
from edgekit.lower import fold_pads, lower_graph
from edgekit.patch import PatchSpec, candidate_splits, parse_patch, plan_patches
from edgekit.plan.memory import plan_memory
from edgekit.quant.int_exec import IntExecutor
from edgekit.tflite.writer import build_tflite
from tests.modelgen import Graph, ModelSpec
from tests.oracle import tflm_run


def patchable_cnn(rng: np.random.Generator, size: int = 32) -> ModelSpec:
    """A MobileNet-like first stage (stem stride 2 via PAD + VALID or SAME, depthwise, 1x1 convs,
    a residual block, a pool) then a head, on a ``size``×``size`` input."""
    g = Graph(rng)
    x_in = g.input((1, size, size, int(rng.integers(1, 4))))
    if rng.random() < 0.5:
        pads = np.array([[0, 0], [1, 1], [1, 1], [0, 0]], dtype=np.int32)
        x = g.conv2d(g.pad(x_in, pads), cout=8, kernel=(3, 3), stride=(2, 2), padding="VALID", act="RELU")
    else:
        x = g.conv2d(x_in, cout=8, kernel=(3, 3), stride=(2, 2), padding="SAME", act="RELU6")
    x = g.depthwise(x, multiplier=1, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU")
    x = g.conv2d(x, cout=8, kernel=(1, 1), stride=(1, 1), padding="SAME", act="NONE")
    y = g.conv2d(x, cout=32, kernel=(1, 1), stride=(1, 1), padding="SAME", act="RELU")
    y = g.depthwise(y, multiplier=1, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU")
    y = g.conv2d(y, cout=8, kernel=(1, 1), stride=(1, 1), padding="SAME", act="NONE")
    x = g.binary("ADD", x, y)  # the skip tile needs no halo, the conv path a 1-pixel one: cropped
    name = str(rng.choice(["MAX_POOL_2D", "AVERAGE_POOL_2D"]))
    x = g.pool(name, x, filt=(3, 3), stride=(2, 2), padding="SAME")
    x = g.conv2d(x, cout=12, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU")
    x = g.mean(x, [1, 2], keep_dims=False)
    return g.spec([x_in], [g.fully_connected(x, units=5, act="NONE")], "patchable")


@pytest.fixture(scope="module")
def cnn() -> bytes:
    return build_tflite(patchable_cnn(np.random.default_rng(7)))


def _batch(graph, n: int = 12, seed: int = 0) -> np.ndarray:  # type: ignore[no-untyped-def]
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int8)


def test_spec_parsing_and_refusals(cnn: bytes) -> None:
    assert parse_patch("off") == "off" and parse_patch(None) == "off" and parse_patch("AUTO") == "auto"
    assert parse_patch("3x3@5") == PatchSpec(grid=3, split=5)
    for bad in ("3x2@5", "1x1@2", "9x9@2", "3x3", "patches"):
        with pytest.raises(EdgekitError, match="--patch"):
            parse_patch(bad)
    graph = pipeline.load(cnn)
    splits = candidate_splits(graph)
    assert splits and max(splits) < max(n.index for n in graph.nodes)  # the head (mean, FC) is never patched
    not_a_cut = next(n.index for n in fold_pads(graph).nodes if n.index not in splits)
    with pytest.raises(EdgekitError, match="does not end a patchable first stage"):
        plan_patches(graph, PatchSpec(grid=2, split=not_a_cut))


def test_every_split_and_grid_is_bit_exact_with_layer_by_layer_and_tflm(cnn: bytes, tmp_path: Path) -> None:
    graph = pipeline.load(cnn)
    x = _batch(graph)
    ref = tflm_run(cnn, x)
    base = pipeline.compile_model(graph, "base", tmp_path / "base")
    assert np.array_equal(base.run(x), ref)
    splits = candidate_splits(graph)
    last = next(n for n in fold_pads(graph).nodes if n.index == splits[-1])
    finest = min(graph.tensors[last.outputs[0]].shape[1], 8)
    specs = [PatchSpec(2, splits[0]), PatchSpec(3, splits[len(splits) // 2]), PatchSpec(2, splits[-1]),
             PatchSpec(finest, splits[-1])]
    for k, spec in enumerate(specs):
        host = pipeline.compile_model(graph, f"p{k}", tmp_path / f"p{k}", patch_mode=spec)
        assert np.array_equal(host.run(x), ref), spec
        plan = plan_patches(graph, spec)
        assert np.array_equal(IntExecutor(plan.graph).run(x)[0].reshape(ref.shape), ref), spec  # the reference
        assert plan.macs_patched >= plan.macs_layer_by_layer


def test_residual_crop_and_pad_fold_are_in_the_rewrite(cnn: bytes) -> None:
    graph = pipeline.load(cnn)
    split = max(candidate_splits(graph))  # after the residual block and the pool
    plan = plan_patches(graph, PatchSpec(grid=3, split=split))
    ops = [n.op for n in plan.graph.nodes]
    assert "PAD" not in ops and ops.count("EK_PATCH_PASTE") == 9
    assert ops.count("STRIDED_SLICE") == 9  # each patch crops the residual's skip tile
    windows = [n.attrs["explicit_window"] for n in plan.graph.nodes if "explicit_window" in n.attrs]
    assert any(w[0] < 0 for w in windows)  # interior tiles of the first conv read the input in place
    assert plan.recompute_macs > 0


def test_patches_cut_the_arena_and_the_input_is_read_in_place(cnn: bytes, tmp_path: Path) -> None:
    graph = pipeline.load(cnn)
    layer = plan_memory(lower_graph(graph)).arena_bytes
    patched, found = pipeline.patch(graph, "auto")
    assert found is not None and found.arena_bytes < layer
    lib = pipeline.generate(graph, tmp_path / "lib", "pm", patch_mode="auto")
    assert lib.info.arena_bytes == found.arena_bytes
    src = (tmp_path / "lib" / "pm.c").read_text()
    assert "ek_patch_paste" in src and "input_buffer(void) { return 0; }" in src
    # the same layers on the in-place depthwise kernel (its own filter layout) layer by layer
    filters = {n.inputs[1] for n in patched.nodes if n.attrs.get("in_place")}
    same = dataclasses.replace(graph, nodes=[
        dataclasses.replace(n, attrs={**n.attrs, "in_place": True}) if n.op == "DEPTHWISE_CONV_2D"
        and n.inputs[1] in filters else n for n in graph.nodes])
    plain = pipeline.generate(same, tmp_path / "plain", "pl")
    # every patch shares its layer's weights: only the crops' few int32 dims and strides are new
    assert 0 <= lib.info.weights_bytes - plain.info.weights_bytes < 100


def test_pad_fold_shrinks_the_layer_by_layer_arena_and_stays_bit_exact(tmp_path: Path) -> None:
    g = Graph(np.random.default_rng(3))
    x_in = g.input((1, 20, 20, 8))
    pads = np.array([[0, 0], [1, 2], [2, 1], [0, 0]], dtype=np.int32)  # asymmetric too
    x = g.conv2d(g.pad(x_in, pads), cout=8, kernel=(3, 3), stride=(2, 2), padding="VALID", act="RELU")
    x = g.depthwise(g.pad(x, np.array([[0, 0], [1, 1], [1, 1], [0, 0]], dtype=np.int32)), multiplier=1,
                    kernel=(3, 3), stride=(1, 1), padding="VALID")
    model = build_tflite(g.spec([x_in], [x], "padded"))
    graph = pipeline.load(model)
    assert [n.op for n in fold_pads(graph).nodes] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    host = pipeline.compile_model(graph, "padded", tmp_path)
    batch = _batch(graph, 8, seed=1)
    assert np.array_equal(host.run(batch), tflm_run(model, batch))
    unfolded = sum(graph.tensors[t].nbytes for n in graph.nodes if n.op == "PAD" for t in n.outputs)
    assert plan_memory(lower_graph(graph)).arena_bytes < unfolded + graph.tensors[graph.inputs[0]].nbytes


def test_cli_analyze_shows_the_plan_and_run_is_bit_exact(cnn: bytes, tmp_path: Path) -> None:
    model = tmp_path / "cnn.tflite"
    model.write_bytes(cnn)
    runner = CliRunner()
    res = runner.invoke(main, ["analyze", str(model), "--patch", "auto", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["bitops"] == sum(r["bitops"] for r in data["layers"]) == 64 * data["macs"]  # int8 × int8 throughout
    assert data["patch"]["arena_bytes"] == data["arena_bytes"] < data["patch"]["arena_layer_by_layer"]
    assert data["patch"]["recompute_macs"] == data["patch"]["macs_patched"] - data["patch"]["macs_layer_by_layer"]
    text = runner.invoke(main, ["analyze", str(model), "--patch", data["patch"]["spec"]])
    assert text.exit_code == 0 and "patch plan" in text.output and "recomputed" in text.output
    bad = runner.invoke(main, ["analyze", str(model), "--patch", "2x2@999"])
    assert bad.exit_code != 0 and "does not end a patchable first stage" in bad.output
    assert "Traceback" not in bad.output
    x = _batch(pipeline.load(cnn), 4, seed=2)
    np.save(tmp_path / "x.npy", x)
    out = runner.invoke(main, ["run", str(model), "--patch", "auto", "--input", str(tmp_path / "x.npy"),
                               "--output", str(tmp_path / "y.npy")])
    assert out.exit_code == 0, out.output
    assert np.array_equal(np.load(tmp_path / "y.npy"), tflm_run(cnn, x))


def wide_first_stage(rng: np.random.Generator) -> ModelSpec:
    """64×64×3 → a 24-channel full-resolution conv (98 KB) → depthwise stride 2 → 1×1 → head: too
    big for the F446RE's 128 KiB layer by layer, small with patches."""
    g = Graph(rng)
    x_in = g.input((1, 64, 64, 3))
    x = g.conv2d(x_in, cout=24, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU")
    x = g.depthwise(x, multiplier=1, kernel=(3, 3), stride=(2, 2), padding="SAME", act="RELU")
    x = g.conv2d(x, cout=8, kernel=(1, 1), stride=(1, 1), padding="SAME", act="RELU")
    x = g.mean(x, [1, 2], keep_dims=False)
    return g.spec([x_in], [g.fully_connected(x, units=4, act="NONE")], "wide")


def test_a_model_too_big_layer_by_layer_is_offered_patches_and_deploys_with_them(tmp_path: Path) -> None:
    from edgekit.errors import DoesNotFitError
    from edgekit.targets import get_board

    model = tmp_path / "wide.tflite"
    model.write_bytes(build_tflite(wide_first_stage(np.random.default_rng(11))))
    board = get_board("nucleo")
    with pytest.raises(DoesNotFitError, match=r"--patch auto: \d+x\d+@\d+.*and it fits.*Deploy with --patch auto"):
        pipeline.deploy(model, board, emulate=True, limit=2, work_dir=tmp_path / "off", progress=False)
    outcome = pipeline.deploy(model, board, emulate=True, limit=3, work_dir=tmp_path / "on", progress=False,
                              patch_mode="auto")
    assert outcome.result.device_host_bitexact == 3
    ref = tflm_run(model, outcome.samples.inputs, arena_size=1 << 20)
    assert np.array_equal(outcome.run.outputs.reshape(3, -1), ref.reshape(3, -1))
    assert outcome.result.ram_bytes <= 128 * 1024 < plan_memory(lower_graph(pipeline.load(model))).arena_bytes + \
        2 * 64 * 64 * 3


@pytest.mark.shared
def test_the_128x128_zoo_model_is_refused_layer_by_layer_on_the_nucleo_and_fits_with_patches(
        tmp_path: Path, cifar_test_path: Path) -> None:
    """mcunet_128 (committed weights, int8 with 64 calibration images): the Nucleo's 128 KiB SRAM
    cannot hold its first stage layer by layer; the fit check proposes patches, and with
    ``--patch auto`` the whole firmware fits."""
    pytest.importorskip("torch")
    from edgekit.zoo import save_for_frontend

    checkpoint = save_for_frontend("mcunet_128", tmp_path / "mcunet_128.pt")
    quantized = pipeline.quantize(checkpoint, cifar_test_path, num_calib=64)
    model = tmp_path / "mcunet_128_int8.tflite"
    model.write_bytes(quantized.tflite)
    runner = CliRunner()
    layer = runner.invoke(main, ["analyze", str(model), "--board", "nucleo", "--json"])
    assert layer.exit_code == 0, layer.output
    fit = json.loads(layer.output)["board"]
    assert not fit["fits"] and "--patch auto" in fit["patch_proposal"]
    patched = runner.invoke(main, ["analyze", str(model), "--board", "nucleo", "--json", "--patch", "auto"])
    assert patched.exit_code == 0, patched.output
    payload = json.loads(patched.output)
    assert payload["board"]["fits"]
    assert payload["patch"]["arena_bytes"] <= 0.5 * payload["patch"]["arena_layer_by_layer"]


def _depthwise_peak(rng: np.random.Generator) -> bytes:
    """1×1 expand ×8 → depthwise (stride 1 SAME, then stride 2 VALID, then dilated) → 1×1 project:
    the depthwise layers hold the two widest maps at once unless they run in place."""
    g = Graph(rng)
    x_in = g.input((1, 15, 13, 4))
    x = g.conv2d(x_in, cout=32, kernel=(1, 1), stride=(1, 1), padding="SAME", act="RELU")
    x = g.depthwise(x, multiplier=1, kernel=(3, 3), stride=(1, 1), padding="SAME", act="RELU6")
    x = g.depthwise(x, multiplier=1, kernel=(3, 3), stride=(2, 2), padding="VALID", act="NONE")
    x = g.depthwise(x, multiplier=1, kernel=(3, 3), stride=(1, 1), dilation=(2, 2), padding="SAME", act="RELU")
    x = g.conv2d(x, cout=4, kernel=(1, 1), stride=(1, 1), padding="SAME", act="NONE")
    return build_tflite(g.spec([x_in], [x], "dwpeak"))


def test_in_place_depthwise_writes_over_its_input_and_stays_bit_exact(tmp_path: Path) -> None:
    from edgekit.ops.depthwise_conv_2d import IN_PLACE
    from edgekit.patch import inplace_depthwise

    model = _depthwise_peak(np.random.default_rng(5))
    graph = pipeline.load(model)
    x = _batch(graph, 6, seed=2)
    ref = tflm_run(model, x)
    # every depthwise node on the in-place kernel: the planner shares each one's buffer with its input
    forced = dataclasses.replace(graph, nodes=[
        dataclasses.replace(n, attrs={**n.attrs, IN_PLACE: True}) if n.op == "DEPTHWISE_CONV_2D" else n
        for n in graph.nodes])
    lowered = lower_graph(forced)
    memory = plan_memory(lowered)
    dw = [lay.call for lay in lowered.layers if lay.node.op == "DEPTHWISE_CONV_2D"]
    assert {c.func for c in dw} == {"ek_dwconv2d_s8_inplace"}
    assert all(memory.tensor_offset[c.outputs[0]] == memory.tensor_offset[c.inputs[0]] for c in dw)
    host = pipeline.compile_model(forced, "dwip", tmp_path / "forced")
    assert np.array_equal(host.run(x), ref)
    # the pass marks only what shrinks the arena, and the result is the same model
    marked, nodes = inplace_depthwise(graph)
    before, after = plan_memory(lower_graph(graph)).arena_bytes, plan_memory(lower_graph(marked)).arena_bytes
    assert nodes and after < before
    assert np.array_equal(pipeline.compile_model(marked, "dwm", tmp_path / "marked").run(x), ref)
