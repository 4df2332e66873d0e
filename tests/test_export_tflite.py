"""`edgekit export --format tflite`: the written flatbuffer round-trips through edgekit's reader,
LiteRT (ai-edge-litert, reference kernels) runs it, and its top-1 agrees with host mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.errors import ModelFormatError, UnsupportedOpError
from edgekit.export import export_graph, graph_to_spec, verify_round_trip
from edgekit.frontends.tflite import load_tflite, parse_tflite
from edgekit.pipeline import export_model
from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec, build_tflite
from tests.conftest import CIFAR_TEST, shared_model


def tiny_float_tflite(path: Path, seed: int = 0, side: int = 8, classes: int = 4) -> Path:
    """A small float CNN (conv+relu → avg-pool → reshape → FC → softmax) on side×side×1 pixels."""
    rng = np.random.default_rng(seed)
    c = 4
    half = side // 2
    t = [
        TensorSpec("x", (1, side, side, 1), "float32"),
        TensorSpec("w", (c, 3, 3, 1), "float32", data=rng.normal(0, 0.5, (c, 3, 3, 1)).astype(np.float32)),
        TensorSpec("b", (c,), "float32", data=rng.normal(0, 0.1, c).astype(np.float32)),
        TensorSpec("conv", (1, side, side, c), "float32"),
        TensorSpec("pool", (1, half, half, c), "float32"),
        TensorSpec("shape", (2,), "int32", data=np.array([-1, half * half * c], np.int32)),
        TensorSpec("flat", (1, half * half * c), "float32"),
        TensorSpec("fw", (classes, half * half * c), "float32",
                   data=rng.normal(0, 0.3, (classes, half * half * c)).astype(np.float32)),
        TensorSpec("fb", (classes,), "float32", data=np.zeros(classes, np.float32)),
        TensorSpec("logits", (1, classes), "float32"),
        TensorSpec("probs", (1, classes), "float32"),
    ]
    ops = [
        OpSpec("CONV_2D", [0, 1, 2], [3], dict(padding="SAME", stride_w=1, stride_h=1,
                                               fused_activation_function="RELU")),
        OpSpec("AVERAGE_POOL_2D", [3], [4], dict(padding="VALID", stride_w=2, stride_h=2, filter_width=2,
                                                 filter_height=2)),
        OpSpec("RESHAPE", [4, 5], [6]),
        OpSpec("FULLY_CONNECTED", [6, 7, 8], [9]),
        OpSpec("SOFTMAX", [9], [10], dict(beta=1.0)),
    ]
    path.write_bytes(build_tflite(ModelSpec(t, ops, [0], [10], description="tiny float cnn")))
    return path


def tiny_npz(path: Path, n: int = 64, seed: int = 1, side: int = 8, classes: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, images=rng.integers(0, 256, (n, side, side, 1), dtype=np.uint8),
             labels=np.arange(n) % classes)
    return path


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="quantizing the self-built model needs torch (edgekit[torch])")
    from edgekit.pipeline import quantize
    from edgekit.quant.ptq import PTQConfig

    d = tmp_path_factory.mktemp("tiny")
    res = quantize(tiny_float_tflite(d / "f.tflite"), tiny_npz(d / "c.npz"), num_calib=64,
                        config=PTQConfig(progress=False))
    out = d / "q.tflite"
    out.write_bytes(res.tflite)
    return out


def _litert(model: bytes, x: np.ndarray) -> np.ndarray:
    interp = pytest.importorskip("ai_edge_litert.interpreter", reason="needs ai-edge-litert (LiteRT)")
    it = interp.Interpreter(model_content=model, num_threads=1,
                            experimental_op_resolver_type=interp.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    din, dout = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for s in x:
        it.set_tensor(din["index"], s.reshape(din["shape"]).astype(din["dtype"]))
        it.invoke()
        outs.append(it.get_tensor(dout["index"]).reshape(-1).copy())
    return np.stack(outs)


def _host(model: bytes, x: np.ndarray) -> np.ndarray:
    from edgekit.pipeline import compile_model

    return compile_model(model, name="exp").run(x).reshape(len(x), -1)


def test_round_trip_keeps_graph_and_adds_signature(tiny_int8: Path) -> None:
    g = load_tflite(tiny_int8)
    res = export_graph(g)
    back = parse_tflite(res.tflite)
    assert [n.op for n in back.nodes] == [n.op for n in g.nodes]
    assert back.description == g.description  # the deployment description (preprocessing) survives
    verify_round_trip(g, res.tflite)
    spec = graph_to_spec(g)
    assert spec.signature_key == "serving_default"
    fc = next(op for op in spec.ops if op.op == "FULLY_CONNECTED")
    assert fc.version == 4


def test_litert_runs_export_and_matches_host_mode(tiny_int8: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.tflite"
    res = export_model(tiny_int8, out)
    data = out.read_bytes()
    assert data == res.tflite and data[4:8] == b"TFL3"
    g = parse_tflite(data)
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (200, *g.tensors[g.inputs[0]].shape[1:]), dtype=np.int8)
    lite, host = _litert(data, x), _host(data, x)
    assert lite.dtype == np.int8 and lite.shape == host.shape
    assert (lite.argmax(1) == host.argmax(1)).mean() >= 0.99
    assert np.abs(lite.astype(int) - host.astype(int)).max() <= 8  # ±1 LSB in FC, amplified by softmax


def test_signature_runner(tiny_int8: Path) -> None:
    interp = pytest.importorskip("ai_edge_litert.interpreter", reason="needs ai-edge-litert (LiteRT)")
    data = export_graph(load_tflite(tiny_int8)).tflite
    it = interp.Interpreter(model_content=data)
    assert it.get_signature_list() == {"serving_default": {"inputs": ["input_0"], "outputs": ["output_0"]}}
    run = it.get_signature_runner("serving_default")
    y = run(input_0=np.zeros((1, 8, 8, 1), np.int8))["output_0"]
    assert y.shape == (1, 4) and y.dtype == np.int8


def test_float_model_is_refused_with_a_hint(tmp_path: Path) -> None:
    f = tiny_float_tflite(tmp_path / "f.tflite")
    with pytest.raises(ModelFormatError, match="quantize it first"):
        export_model(f, tmp_path / "o.tflite")
    assert not (tmp_path / "o.tflite").exists()


def test_non_builtin_op_is_refused(tiny_int8: Path) -> None:
    g = load_tflite(tiny_int8)
    g.nodes[-1].op = "LAYER_NORM"
    with pytest.raises(UnsupportedOpError, match="LAYER_NORM is not a TFLite builtin"):
        export_graph(g)


def test_cli_export_with_calib_quantizes_on_the_way(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="needs torch (edgekit[torch])")
    from edgekit.cli import main

    f = tiny_float_tflite(tmp_path / "f.tflite")
    out = tmp_path / "m.tflite"
    r = CliRunner().invoke(main, ["export", str(f), "--format", "tflite", "--calib", str(tiny_npz(tmp_path / "c.npz")),
                                  "--num-calib", "32", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "serving_default" in r.output
    assert load_tflite(out).is_quantized


def test_resnet8_litert_agreement(cifar_test_path: Path) -> None:
    """The int8 ResNet-8 exported and run in LiteRT on 200 CIFAR-10 test images (bench: all 10,000)."""
    from edgekit.data import load_dataset
    from edgekit.metadata import preprocess_for

    g = load_tflite(shared_model("pretrainedResnet_quant"))
    data = export_graph(g).tflite
    ds = load_dataset(CIFAR_TEST, limit=200)
    x = preprocess_for(g).apply(ds.images)
    lite, host = _litert(data, x), _host(data, x)
    agree = (lite.argmax(1) == host.argmax(1)).mean()
    assert agree >= 0.99, agree
    assert (lite.argmax(1) == np.asarray(ds.labels)).mean() > 0.7
