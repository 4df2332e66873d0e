"""LEAKY_RELU end to end: TFLite int8 models bit-exact with the TFLite Micro wheel (any alpha:
small, > 1, negative, 0), PyTorch ``nn.LeakyReLU`` / ``F.leaky_relu`` through the front end and
PTQ (host mode == TFLM on the quantized file), and export that LiteRT runs."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.frontends.tflite import parse_tflite
from edgekit.ops.leaky_relu import leaky_relu_multipliers
from edgekit.pipeline import compile_model
from edgekit.tflite.writer import build_tflite
from tests.modelgen import LEAKY_ALPHAS, random_leaky_relu
from tests.test_kernels_ops import assert_bit_exact

pytest.importorskip("tflite_micro", reason="the TFLite Micro wheel is the oracle (pip install .[dev])")


@pytest.mark.parametrize("seed", range(24))
def test_tflite_leaky_relu_is_bit_exact_with_tflm(seed: int) -> None:
    assert_bit_exact(random_leaky_relu(np.random.default_rng(seed)), seed)


@pytest.mark.parametrize("alpha", LEAKY_ALPHAS)
def test_every_kind_of_alpha(alpha: float) -> None:
    for seed in range(3):
        assert_bit_exact(random_leaky_relu(np.random.default_rng(100 + seed), alpha=alpha), seed, n_inputs=4)


def test_multipliers_follow_tflm_prepare() -> None:
    identity, alpha = leaky_relu_multipliers(0.05, 0.2, 0.04)
    assert identity.multiplier > 0 and alpha.multiplier > 0
    neg_identity, neg_alpha = leaky_relu_multipliers(0.05, -0.2, 0.04)
    assert neg_identity.items() == identity.items()
    assert neg_alpha.multiplier == -alpha.multiplier and neg_alpha.shift == alpha.shift
    zero = leaky_relu_multipliers(0.05, 0.0, 0.04)[1]
    assert (zero.multiplier, zero.shift) == (0, 0)


def _tflm(buf: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(buf, arena_size=1 << 20)
    outs = []
    for sample in x:
        it.set_input(sample[None], 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)).copy())
    return np.concatenate(outs)


def test_pytorch_leaky_relu_through_ptq(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch", reason="the PyTorch front end needs torch")
    from torch import nn

    from edgekit.data import Preprocess
    from edgekit.frontends.torch_fx import from_torch
    from edgekit.quant.float_exec import FloatExecutor
    from edgekit.quant.ptq import PTQConfig, quantize_graph

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.act = nn.LeakyReLU(0.1)
            self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):  # type: ignore[no-untyped-def]
            x = self.act(self.c1(x))
            x = torch.nn.functional.leaky_relu(self.c2(x), negative_slope=0.3)
            return self.fc(x.mean(dim=(2, 3)))

    torch.manual_seed(0)
    net = Net().eval()
    graph = from_torch(net, torch.zeros(1, 3, 12, 12))
    leaky = [n for n in graph.nodes if n.op == "LEAKY_RELU"]
    assert [round(n.attrs["alpha"], 6) for n in leaky] == [0.1, 0.3]

    pre = Preprocess.for_model((1, 12, 12, 3), "float32")
    images = np.random.default_rng(0).integers(0, 256, (96, 12, 12, 3), dtype=np.uint8)
    x = pre.apply(images)
    with torch.no_grad():
        want = net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    (got,) = FloatExecutor(graph, "cpu").run(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    res = quantize_graph(graph, x[:64], pre, PTQConfig(progress=False, device="cpu"))
    q = parse_tflite(res.tflite)
    assert sum(n.op == "LEAKY_RELU" for n in q.nodes) == 2
    xq = res.preprocess.apply(images[64:])
    host = compile_model(res.tflite, name="lrelu", work_dir=tmp_path).run(xq)
    assert np.array_equal(host.reshape(len(xq), -1), _tflm(res.tflite, xq).reshape(len(xq), -1))
    out = res.graph.tensors[res.graph.outputs[0]].quant
    deq = (host.reshape(len(xq), -1).astype(np.float64) - out.scalar_zero_point) * out.scalar_scale
    ref = want[64:]
    cos = (deq * ref).sum(1) / (np.linalg.norm(deq, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() > 0.98


def test_export_runs_in_litert() -> None:
    interp = pytest.importorskip("ai_edge_litert.interpreter", reason="needs ai-edge-litert (LiteRT)")
    from edgekit.export import export_graph

    spec = random_leaky_relu(np.random.default_rng(7), alpha=0.2)
    graph = parse_tflite(build_tflite(spec))
    data = export_graph(graph).tflite
    it = interp.Interpreter(model_content=data, num_threads=1,
                            experimental_op_resolver_type=interp.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    shape = graph.tensors[graph.inputs[0]].shape
    x = np.random.default_rng(1).integers(-128, 128, (16, *shape[1:]), dtype=np.int8)
    host = compile_model(data, name="lrelu_x").run(x)
    lite = []
    for sample in x:
        it.set_tensor(it.get_input_details()[0]["index"], sample[None])
        it.invoke()
        lite.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    assert np.array_equal(np.concatenate(lite).reshape(host.shape), host)
