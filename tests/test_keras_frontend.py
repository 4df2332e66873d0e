"""Keras front end (optional extra, tensorflow-cpu): .h5/.keras → float IR that matches Keras'
own predictions, then quantizes with the PTQ engine; unsupported layers are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import UnsupportedOpError

keras = pytest.importorskip("keras", reason="the Keras front end needs tensorflow-cpu (pip install edgekit[keras])")
pytest.importorskip("tensorflow", reason="the Keras front end needs tensorflow-cpu (pip install edgekit[keras])")

from edgekit.frontends.keras import keras_to_graph, load_keras  # noqa: E402
from edgekit.frontends.loader import load_model  # noqa: E402
from tests.conftest import MLPERF  # noqa: E402


def _resnet_block_model() -> object:
    """The layer types of MLPerf Tiny's ResNet-8, with BN folding both possible and not."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    x = L.Input((12, 12, 3))
    a = L.Conv2D(8, 3, padding="same")(x)
    a = L.BatchNormalization()(a)
    a = L.Activation("relu")(a)
    b = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(a)
    b = L.DepthwiseConv2D(3, padding="same")(b)
    b = L.BatchNormalization()(b)
    s = L.Conv2D(8, 1, strides=2, padding="same")(a)
    y = L.Add()([s, b])
    y = L.ReLU()(y)
    y = L.BatchNormalization()(y)  # after a ReLU: not foldable → MUL + ADD
    y = L.AveragePooling2D(pool_size=2)(y)
    y = L.MaxPooling2D(pool_size=1)(y)
    y = L.Flatten()(y)
    y = L.Dropout(0.2)(y)
    y = L.Dense(16, activation="relu6")(y)
    y = L.Dense(5)(y)
    y = L.Softmax()(y)
    m = keras.Model(x, y)
    rng = np.random.default_rng(0)
    for layer in m.layers:  # non-trivial BN statistics
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.3, n),
                               rng.uniform(0.5, 2.0, n)])
    return m


def _float_run(graph: object, x: np.ndarray) -> np.ndarray:
    pytest.importorskip("torch", reason="the float executor needs torch")
    from edgekit.quant.float_exec import FloatExecutor

    (y,) = FloatExecutor(graph, "cpu").run(x)  # type: ignore[arg-type]
    return np.asarray(y).reshape(len(x), -1)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_saved_model_matches_keras(tmp_path: Path, suffix: str) -> None:
    m = _resnet_block_model()
    path = tmp_path / f"m{suffix}"
    m.save(path)  # type: ignore[attr-defined]
    g = load_model(path)
    ops = [n.op for n in g.nodes]
    assert ops.count("MUL") == 1 and ops.count("CONV_2D") == 3 and "DEPTHWISE_CONV_2D" in ops  # 2 BNs folded
    assert ops[-1] == "SOFTMAX" and "RESHAPE" in ops and "RELU6" in ops
    x = np.random.default_rng(1).normal(0, 1, (16, 12, 12, 3)).astype(np.float32)
    ref = m.predict(x, verbose=0)  # type: ignore[attr-defined]
    got = _float_run(g, x)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert (got.argmax(1) == ref.argmax(1)).all()


def test_quantizes_to_int8(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="PTQ needs torch")
    from edgekit.data import Preprocess
    from edgekit.quant.ptq import PTQConfig, quantize_graph

    g = keras_to_graph(_resnet_block_model(), "blocks")
    x = np.random.default_rng(2).normal(0, 1, (64, 12, 12, 3)).astype(np.float32)
    pre = Preprocess.for_model(g.tensors[g.inputs[0]].shape, "float32")
    res = quantize_graph(g, x, pre, PTQConfig(progress=False))
    from edgekit.frontends.tflite import parse_tflite

    q = parse_tflite(res.tflite)
    assert q.is_quantized and {n.op for n in q.nodes} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED"}


def test_unsupported_layer_is_named(tmp_path: Path) -> None:
    L = keras.layers
    x = L.Input((8, 8, 2))
    y = L.Conv2D(4, 3)(x)
    y = L.UpSampling2D()(y)
    with pytest.raises(UnsupportedOpError, match=r"'up_sampling2d.*' \(UpSampling2D.*not supported"):
        keras_to_graph(keras.Model(x, y))


def test_bad_file_is_a_model_format_error(tmp_path: Path) -> None:
    from edgekit.errors import ModelFormatError

    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ModelFormatError, match="Keras cannot load"):
        load_keras(bad)


def test_mlperf_resnet8_h5_matches_keras() -> None:
    path = MLPERF / "pretrainedResnet.h5"
    if not path.exists():
        pytest.skip("needs ../shared/models/mlperf_tiny/pretrainedResnet.h5")
    g = load_keras(path)
    assert [n.op for n in g.nodes].count("CONV_2D") == 9 and "MUL" not in [n.op for n in g.nodes]
    m = keras.models.load_model(str(path), compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(_float_run(g, x), m.predict(x, verbose=0), atol=1e-4)
