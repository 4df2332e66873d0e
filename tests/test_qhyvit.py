"""The full quantization simulation, the ViT PTQ methods and Q-HyViT, on small hybrids the tests build:
the simulation's quantization is the deployed graph's, the quantizers do what their papers say,
bridge blocks are found from the graph, the RepQ reparameterization is exact, the searches beat
min/max on their own objective, and the searched W8A8 / W4A8 models lower to C that agrees with the
Python integer reference bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit import pipeline  # noqa: E402
from edgekit.data import Preprocess  # noqa: E402
from edgekit.errors import DataError, UnsupportedOpError  # noqa: E402
from edgekit.frontends.torch_fx import from_torch  # noqa: E402
from edgekit.quant.fakequant import (  # noqa: E402
    FakeQuantModel,
    Quantizer,
    SimStructure,
    parse_bits,
    uniform_qparams,
)
from edgekit.quant.int_exec import IntExecutor  # noqa: E402
from edgekit.quant.ivit import quantize_ivit  # noqa: E402
from edgekit.quant.methods import (  # noqa: E402
    _channel_range,
    _linear_consumers,
    bridge_blocks,
    channel_ranges,
    integer_graph,
    quantize_method,
    reparameterize_layernorm,
)
from edgekit.quant.ptq import PTQConfig, prepare_graph  # noqa: E402
from edgekit.quant.search import Searcher  # noqa: E402
from edgekit.zoo.models import DeiT, MobileViTBlock  # noqa: E402


class _TinyHybrid(torch.nn.Module):
    """A conv stem, one MobileViT block (SiLU convs, LayerNorm, attention, unfold/fold), a head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.stem = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.block = MobileViTBlock(8, 16, depth=1, heads=2)
        self.head = torch.nn.Linear(8, 10)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, torch.nn.LayerNorm):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(self.stem(x))
        return self.head(y.mean(dim=(2, 3)))


PRE = Preprocess(input_shape=(8, 8, 3), dtype="float32")
QUICK = {"candidates": 25, "rounds": 2}  # the searches' machinery with a smaller budget (the bench runs 100 × 3)


@pytest.fixture(scope="module")
def hybrid():  # type: ignore[no-untyped-def]
    graph = from_torch(_TinyHybrid().eval(), torch.zeros(1, 3, 8, 8), "tiny_hybrid")
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, size=(48, 8, 8, 3)).astype(np.float32)
    return graph, calib


def _kl_to_float(config, graph, x: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    from edgekit.quant.float_exec import FloatExecutor

    ref = torch.from_numpy(FloatExecutor(prepare_graph(graph)).run(x)[0].reshape(len(x), -1))
    got = torch.from_numpy(FakeQuantModel(config).run(x))
    return float(torch.nn.functional.kl_div(torch.log_softmax(got, -1), torch.softmax(ref, -1), reduction="batchmean"))


# ---- quantizers ---------------------------------------------------------------------------------


def test_bit_settings_parse_and_refuse() -> None:
    assert parse_bits("w4a8") == (4, 8) and parse_bits("W6A6") == (6, 6)
    with pytest.raises(DataError, match="W8A8, W6A6, W4A8, W4A4"):
        parse_bits("W3A3")


def test_asymmetric_ranges_always_hold_zero_so_zero_points_never_overflow() -> None:
    # a channel of only positive values (Q-HyViT's bridge-block failure): its zero point stays on the grid
    lo, hi = np.array([0.5, -2.0, -3.0]), np.array([4.0, 1.0, -1.0])
    for bits in (8, 6, 4):
        s, z = uniform_qparams(lo, hi, bits, symmetric=False)
        qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        assert np.all((z >= qmin) & (z <= qmax))
        assert z[0] == qmin and z[2] == qmax  # all positive: zero at the bottom; all negative: at the top
        q = Quantizer(bits=bits, scale=s, zero_point=z)
        zero = q(torch.zeros(1, 3))
        assert torch.equal(zero, torch.zeros(1, 3))  # real 0 is exact
    s, z = uniform_qparams(-1.0, 3.0, 8, symmetric=True)
    assert int(z) == 0 and abs(float(s) - 3.0 / 127) < 1e-9


def test_uniform_quantizer_is_the_integer_grid() -> None:
    s, z = uniform_qparams(-1.0, 2.0, 6, symmetric=False)
    q = Quantizer(bits=6, scale=s, zero_point=z)
    x = torch.linspace(-3, 3, 1001)
    want = (torch.clamp(torch.round(x / float(s)) + int(z), -32, 31) - int(z)) * float(s)
    assert torch.allclose(q(x), want, atol=1e-6)
    assert len(torch.unique(q(x))) <= 64


def test_log_quantizers_give_powers_of_two_and_zero_beyond_the_levels() -> None:
    x = torch.tensor([1.0, 0.5, 0.3, 0.25, 1e-6, 0.0])
    log2 = Quantizer(bits=4, scale=np.array(1.0), zero_point=np.array(0), kind="log2")(x)
    assert log2.tolist()[:4] == [1.0, 0.5, 0.25, 0.25] and log2[4] == 0 and log2[5] == 0
    sq = Quantizer(bits=4, scale=np.array(1.0), zero_point=np.array(0), kind="log_sqrt2")(torch.tensor([0.7071]))
    assert abs(float(sq) - 2 ** -0.5) < 1e-6


def test_twin_uniform_softmax_is_fine_below_the_split_and_coarse_above() -> None:
    q = Quantizer(bits=4, scale=np.array(1.0), zero_point=np.array(0), kind="twin_softmax", extra={"split": 0.125})
    x = torch.tensor([0.01, 0.07, 0.45, 0.93])
    y = q(x)
    step_lo, step_hi = 0.125 / 8, 1.0 / 7
    assert torch.allclose(y[:2], torch.round(x[:2] / step_lo) * step_lo)
    assert torch.allclose(y[2:], torch.round(x[2:] / step_hi) * step_hi)


# ---- the simulated structure is the deployed one -------------------------------------------------


def test_simulation_quantizes_what_the_integer_graph_stores(hybrid) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    found = quantize_method(graph, calib, PRE, "minmax", 8, 8, progress=False)
    ivit = quantize_ivit(graph, calib, PRE, PTQConfig(progress=False))
    mine = integer_graph(found, "tiny_hybrid", PRE)
    # the same activation quantization, tensor by tensor, and the same integer weights
    assert found.config.activation_qparams() == {t: ivit.qparams[t] for t in found.config.activation_qparams()}
    assert [n.op for n in mine.graph.nodes] == [n.op for n in ivit.graph.nodes]
    for a, b in zip(mine.graph.tensors, ivit.graph.tensors, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.data is not None:
            assert np.array_equal(a.data, b.data), a.name
    st = found.config.structure
    assert st.stream and all(found.config.acts[st.root_of[t]].bits == 16 for t in st.stream)
    assert found.config.deployable


def test_simulation_agrees_with_the_integer_reference(hybrid) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    found = quantize_method(graph, calib, PRE, "minmax", 8, 8, progress=False)
    res = integer_graph(found, "tiny_hybrid", PRE)
    x = np.random.default_rng(5).normal(0, 1, size=(64, 8, 8, 3)).astype(np.float32)
    s, z = res.preprocess.input_scale, res.preprocess.input_zero_point
    xq = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
    ints = IntExecutor(res.graph).run(xq)[0].reshape(64, -1).astype(np.float64)
    out_q = res.graph.tensors[res.graph.outputs[0]].quant
    deq = (ints - int(out_q.zero_point[0])) * float(out_q.scale[0])
    sim = FakeQuantModel(found.config).run(x)
    # the integer kernels' approximations (Shiftmax, ShiftGELU, I-LayerNorm) stay within a few output steps
    assert np.abs(sim - deq).max() <= 6 * float(out_q.scale[0])
    assert (sim.argmax(1) == deq.argmax(1)).mean() >= 0.9


# ---- bridge blocks --------------------------------------------------------------------------------


def test_bridge_blocks_are_the_conv_transformer_transitions(hybrid) -> None:  # type: ignore[no-untyped-def]
    graph, _ = hybrid
    st = SimStructure(prepare_graph(graph))
    blocks = bridge_blocks(st)
    assert len(blocks) == 2  # conv → unfold → LayerNorm → qkv, and FC → fold → conv
    first, second = blocks
    assert first[0].op == "CONV_2D" and "EK_LAYERNORM" in [n.op for n in first] and first[-1].op == "FULLY_CONNECTED"
    assert second[0].op == "FULLY_CONNECTED" and second[-1].op == "CONV_2D"
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3))
    assert bridge_blocks(SimStructure(prepare_graph(from_torch(cnn.eval(), torch.zeros(1, 3, 8, 8), "cnn")))) == []
    torch.manual_seed(0)
    vit = DeiT(image=8, patch=4, dim=16, depth=1, heads=2, mlp_ratio=2.0).eval()
    vit_blocks = bridge_blocks(SimStructure(prepare_graph(from_torch(vit, torch.zeros(1, 3, 8, 8), "vit"))))
    assert len(vit_blocks) == 1 and vit_blocks[0][0].op == "CONV_2D"  # the patch embedding into the tokens


# ---- RepQ-ViT's reparameterization ----------------------------------------------------------------


def test_layernorm_reparameterization_is_exact(hybrid) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    found = quantize_method(graph, calib, PRE, "minmax", 8, 8, progress=False)
    cfg = found.config
    st = cfg.structure
    rng = np.random.default_rng(2)
    per_ch = {}
    foldable = [r for r in st.post_layernorm if _linear_consumers(st, r) is not None]
    assert len(foldable) == 2  # the LayerNorms before qkv and before the MLP; the last one feeds the fold
    for root in foldable:
        c = st.graph.tensors[root].shape[-1]
        s = (rng.uniform(0.005, 0.05, c)).astype(np.float32)
        per_ch[root] = Quantizer(bits=8, scale=s, zero_point=rng.integers(-20, 20, c))
    g2, new_q = reparameterize_layernorm(cfg.prepared, st, per_ch)
    assert set(new_q) == set(per_ch)
    a = cfg.copy()
    a.weights = {}  # float weights: the reparameterization itself is exact
    a.acts.update(per_ch)
    b = cfg.copy()
    b.weights = {}
    b.structure = SimStructure(g2, None)
    b.prepared = g2
    b.acts.update(new_q)
    x = calib[:16]
    out_a, out_b = FakeQuantModel(a).run(x), FakeQuantModel(b).run(x)
    assert np.abs(out_a - out_b).max() < 1e-3 * max(1.0, np.abs(out_a).max())


def test_per_channel_ranges_come_from_every_calibration_image_not_only_the_search_set(hybrid) -> None:  # type: ignore[no-untyped-def]
    from edgekit.quant.float_exec import FloatExecutor

    graph, calib = hybrid
    cfg = quantize_method(graph, calib, PRE, "minmax", 8, 8, progress=False).config
    st = cfg.structure
    seen = channel_ranges(st, calib, torch.device("cpu"), batch_size=20)  # streamed in 3 batches
    assert seen, "no per-channel candidates in the hybrid"
    env = FloatExecutor(st.graph).forward([torch.from_numpy(calib)], keep=True)
    for tid, (lo, hi) in seen.items():
        flat = env[tid].reshape(-1, env[tid].shape[-1]).double().numpy()
        np.testing.assert_allclose(lo, flat.min(0), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(hi, flat.max(0), rtol=1e-6, atol=1e-7)
    searcher = Searcher(cfg, calib[:8])
    root = next(r for r in st.searchable() if st.channel_ok(r) and st.groups[r][0] in seen)
    small_lo, small_hi = _channel_range(searcher, root)  # 8 search images only
    searcher.channel_ranges = seen
    lo, hi = _channel_range(searcher, root)
    assert np.all(lo <= small_lo) and np.all(hi >= small_hi) and (np.any(lo < small_lo) or np.any(hi > small_hi))


# ---- the searches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["omse", "qhyvit"])
def test_searches_beat_minmax_at_low_bits(hybrid, method: str) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    base = quantize_method(graph, calib, PRE, "minmax", 4, 4, progress=False)
    found = quantize_method(graph, calib, PRE, method, 4, 4, search_images=16, **QUICK, progress=False)
    assert _kl_to_float(found.config, graph, calib) < _kl_to_float(base.config, graph, calib)


def test_qhyvit_searches_granularity_and_scheme_and_finds_bridge_blocks(hybrid) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    found = quantize_method(graph, calib, PRE, "qhyvit", 6, 6, search_images=16, **QUICK, progress=False)
    notes = found.config.notes
    assert len(notes["bridge_blocks"]) == 2
    assert sum(notes["choices"].values()) == len(found.config.structure.searchable()) - \
        len(found.config.structure.softmax)
    assert not found.config.deployable  # 6-bit activations are simulation only
    dep = quantize_method(graph, calib, PRE, "qhyvit", 8, 8, search_images=16, **QUICK, deployable=True, progress=False)
    assert dep.config.deployable and all(not q.per_channel for q in dep.config.acts.values())


def test_non_deployable_quantizers_are_refused_with_the_reason(hybrid) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    found = quantize_method(graph, calib, PRE, "fqvit", 8, 8, progress=False)
    with pytest.raises(UnsupportedOpError, match="log2"):
        integer_graph(found, "x", PRE)


# ---- deployed ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", ["W8A8", "W4A8"])
def test_searched_model_lowers_to_c_bit_exact_with_the_reference(hybrid, tmp_path: Path, bits: str) -> None:  # type: ignore[no-untyped-def]
    graph, calib = hybrid
    w, a = parse_bits(bits)
    found = quantize_method(graph, calib, PRE, "qhyvit", w, a, search_images=16, **QUICK, deployable=True,
                            progress=False)
    res = integer_graph(found, "tiny_hybrid", PRE)
    path = tmp_path / "q.tflite"
    path.write_bytes(res.tflite)
    loaded = pipeline.load(path)
    weights = [loaded.tensors[n.inputs[1]] for n in loaded.nodes if n.op in ("CONV_2D", "FULLY_CONNECTED",
                                                                               "DEPTHWISE_CONV_2D")]
    qmax = 2 ** (w - 1) - 1
    assert all(np.abs(t.data.astype(np.int64)).max() <= qmax for t in weights)
    assert {t.dtype for t in weights} == ({"int4"} if w == 4 else {"int8"})
    x = np.random.default_rng(3).integers(-128, 128, size=(8, 8, 8, 3)).astype(np.int8)
    host = pipeline.compile_model(loaded, "qh", tmp_path / "host")
    c_out = np.concatenate([host.run(x[i:i + 1]) for i in range(len(x))]).reshape(len(x), -1)
    ref = IntExecutor(loaded).run(x)[0].reshape(len(x), -1)
    assert np.array_equal(c_out, ref)


# ---- the command line ---------------------------------------------------------------------------------


def _edgekit(*args: str):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "edgekit.cli", *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, COLUMNS="200"))


def test_cli_quantizes_a_zoo_hybrid_with_qhyvit_and_refuses_what_it_cannot_deploy(tmp_path: Path) -> None:
    from edgekit.zoo import get_entry
    from edgekit.zoo.models import EfficientFormer

    torch.manual_seed(0)  # a small EfficientFormer-style hybrid in the PyTorch front end's checkpoint form
    module = EfficientFormer(widths=(8, 16, 24), depth4d=1, depth3d=1).eval()
    model = tmp_path / "hybrid.pt"
    torch.save({"edgekit_torch": 1, "module": module, "input_shape": [1, 3, 32, 32],
                "preprocess": get_entry("efficientformer_xs").preprocess().to_dict()}, model)
    rng = np.random.default_rng(0)
    npz = tmp_path / "calib.npz"
    np.savez(npz, images=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 8))
    for bits, method, why in (("W6A6", "qhyvit", "8-bit activations"), ("W8A8", "ptq4vit", "twin-uniform"),
                              ("W4A8", "ptq", "quantizes to W8A8")):
        out = tmp_path / f"{method}_{bits}.tflite"
        proc = _edgekit("quantize", str(model), "--calib", str(npz), "--num-calib", "8", "--method", method,
                        "--bits", bits, "--quiet", "-o", str(out))
        assert proc.returncode != 0 and why in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()
    out = tmp_path / "mvit_qhyvit.tflite"
    proc = _edgekit("quantize", str(model), "--calib", str(npz), "--num-calib", "8", "--method", "qhyvit",
                    "--bits", "W8A8", "--search-images", "2", "--quiet", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "qhyvit, W8A8" in proc.stdout
    from edgekit.metadata import read_description

    graph = pipeline.load(out)
    info = read_description(out.read_bytes())
    assert info is not None
    assert info["method"] == "qhyvit" and info["bits"] == "W8A8" and info["search_samples"] == 2
    assert {"EK_LAYERNORM", "EK_SHIFTMAX", "EK_SHIFTGELU"} <= {n.op for n in graph.nodes}
