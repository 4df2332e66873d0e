"""The digits demo model: trained, quantized and written without any download, and accurate in TFLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")

from edgekit.demo import digits  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> digits.DigitsModel:
    return digits.build_digits_model(tmp_path_factory.mktemp("demo") / "digits.tflite")


def test_int8_accuracy_in_tflm(built: digits.DigitsModel) -> None:
    assert built.path.is_file()
    assert built.int8_accuracy is not None
    assert built.int8_accuracy >= 0.90
    assert built.float_accuracy >= 0.90
    assert abs(built.float_accuracy - built.int8_accuracy) <= 0.02


def test_model_is_full_int8_with_the_documented_input(built: digits.DigitsModel) -> None:
    it = runtime.Interpreter.from_file(str(built.path))
    d = it.get_input_details(0)
    assert d["dtype"] == np.int8 and list(d["shape"]) == [1, 8, 8, 1]
    q = d["quantization_parameters"]
    assert np.isclose(q["scales"][0], digits.INPUT_SCALE) and q["zero_points"][0] == digits.INPUT_ZERO_POINT
    out = it.get_output_details(0)
    assert out["dtype"] == np.int8 and list(out["shape"]) == [1, 10]


def test_held_out_split_and_preprocessing() -> None:
    x, y = digits.load_digits_test()
    assert x.dtype == np.int8 and x.shape == (360, 8, 8, 1) and y.shape == (360,)
    assert set(np.unique(y)) == set(range(10))
    # q = 15·p − 128 ⇔ (q − zp)·scale = p/16
    _, _, pixels, labels = digits.load_digits_split()
    real = (x.astype(np.float64) - digits.INPUT_ZERO_POINT) * digits.INPUT_SCALE
    assert np.allclose(real[..., 0], pixels / 16.0)
    assert np.array_equal(labels, y)


def test_tflm_predictions_match_the_reported_accuracy(built: digits.DigitsModel) -> None:
    x, y = digits.load_digits_test()
    preds = digits.tflm_predict(built.path, x)
    assert preds is not None
    assert np.mean(preds == y) == pytest.approx(built.int8_accuracy)


def test_digits_model_path_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: digits.DigitsModel
) -> None:
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    cached = tmp_path / "demo" / digits.MODEL_FILENAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(built.path.read_bytes())
    calls: list[Path] = []
    monkeypatch.setattr(digits, "build_digits_model", lambda p: calls.append(p))
    assert digits.digits_model_path() == cached
    assert calls == []  # present: not rebuilt
    cached.unlink()
    digits.digits_model_path()
    assert calls == [cached]  # absent: built at the cache location


def test_build_is_deterministic(tmp_path: Path, built: digits.DigitsModel) -> None:
    again = digits.build_digits_model(tmp_path / "again.tflite")
    assert again.path.read_bytes() == built.path.read_bytes()
