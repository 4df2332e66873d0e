"""Implausible data is an error or a reported warning, never silently coerced.

Each test reproduces one finding of the user test (what edgekit did silently before) and
asserts the fixed behaviour: a one-line DataError saying what is wrong and what to do, or a
warning in the validation report that keeps the verdict from PASS.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import Preprocess, load_dataset
from edgekit.data.checks import (
    check_image_shape,
    check_labels,
    check_not_empty,
    check_pixel_transform,
    check_pixels,
    class_names_mismatch,
    expects_pixels,
)
from edgekit.errors import DataError
from edgekit.report import render_text
from edgekit.validate import ValidationResult

RNG = np.random.default_rng(0)


def _int8_rgb32() -> Preprocess:
    """The default preprocessing of an int8 32×32×3 model with input scale 1/255, zero point -128."""
    return Preprocess.for_model((1, 32, 32, 3), "int8", 1 / 255, -128)


def _float_rgb32() -> Preprocess:
    return Preprocess.for_model((1, 32, 32, 3), "float32")


def _pixels(n: int = 4, shape: tuple[int, ...] = (32, 32, 3)) -> np.ndarray:
    return RNG.integers(0, 256, (n, *shape), dtype=np.uint8)


def _one_line(err: pytest.ExceptionInfo[DataError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ---- finding 1: pixels that are not 8-bit pixels ------------------------------------------------


def test_uint16_images_are_refused() -> None:
    images = RNG.integers(0, 4096, (4, 32, 32, 3)).astype(np.uint16)
    images[0, 0, 0, 0] = 4095
    with pytest.raises(DataError, match="uint16 images with values up to 4095: edgekit takes 8-bit pixels") as err:
        _int8_rgb32().apply(images)
    assert "convert them" in _one_line(err)
    # uint16 / int64 / whole float images within 0..255 are pixels all the same
    pixels = _pixels()
    expected = _int8_rgb32().apply(pixels)
    for same in (pixels.astype(np.uint16), pixels.astype(np.int64), pixels.astype(np.float32)):
        np.testing.assert_array_equal(_int8_rgb32().apply(same), expected)
    with pytest.raises(DataError, match="down to -3"):
        _int8_rgb32().apply(pixels.astype(np.int16) - 3)


@pytest.mark.parametrize("pre", [_int8_rgb32(), _float_rgb32()], ids=["int8", "float"])
def test_float_images_in_0_1_are_refused(pre: Preprocess) -> None:
    images = _pixels().astype(np.float32) / 255.0
    with pytest.raises(DataError, match=r"float images in \[0, 1\] look already scaled") as err:
        pre.apply(images)
    text = _one_line(err)
    assert "give uint8 images" in text and "--pixel-scale 1" in text
    # with --pixel-scale 1 (the identity) they are the model's real input values: accepted
    real = replace(pre, scale=1.0, offset=0.0).apply(images)
    assert real.shape == (4, 32, 32, 3)
    # normalised floats in [-1, 1] likewise
    with pytest.raises(DataError, match=r"float images in \[-1, 1\] look already scaled"):
        pre.apply(images * 2 - 1)


def test_identity_onto_a_pixel_range_input_still_takes_pixels() -> None:
    """int8 input scale 1, zero point -128: real = pixel, so [0, 1] floats are not real values."""
    pre = Preprocess.for_model((1, 32, 32, 3), "int8", 1.0, -128)
    assert (pre.scale, pre.offset) == (1.0, 0.0) and expects_pixels(pre)
    with pytest.raises(DataError, match="already scaled") as err:
        pre.apply(_pixels().astype(np.float32) / 255.0)
    assert "--pixel-scale" not in _one_line(err)  # that would not help here


def test_image_shaped_features_with_pixel_scale_1_are_real_values() -> None:
    """A keyword-spotting model takes 49×10×1 MFCCs: image-shaped, but real values (--pixel-scale 1)."""
    kws = Preprocess.for_model((1, 49, 10, 1), "int8", 0.5847, 83)
    mfcc = RNG.normal(-40, 20, (3, 49, 10, 1)).astype(np.float32)
    with pytest.raises(DataError, match="edgekit takes 8-bit pixels 0..255.*pass --pixel-scale 1"):
        kws.apply(mfcc)
    real = replace(kws, scale=1.0, offset=0.0)
    assert not expects_pixels(real)
    assert real.apply(mfcc).dtype == np.int8


def test_nan_and_fractional_pixels_are_refused() -> None:
    images = _pixels().astype(np.float32)
    images[2, 5, 5, 1] = np.nan
    images[3, 0, 0, 0] = np.inf
    with pytest.raises(DataError, match=r"1 NaN and 1 inf pixels in the samples \(the first in sample 2\)"):
        _int8_rgb32().apply(images)
    with pytest.raises(DataError, match="NaN"):
        _float_rgb32().apply(images)
    fractional = _pixels().astype(np.float32)
    fractional[1, 3, 3, 2] = 12.37
    with pytest.raises(DataError, match=r"fractional values \(e.g. 12.37 in sample 1\)"):
        _float_rgb32().apply(fractional)
    with pytest.raises(DataError, match="up to 300"):
        _float_rgb32().apply(np.full((1, 32, 32, 3), 300.0, np.float32))


def test_features_are_only_checked_to_be_finite() -> None:
    """Samples that are not images (an audio model's features) are real values: any finite number."""
    pre = Preprocess.for_model((1, 640), "int8", 0.1, 0)
    features = RNG.normal(0, 3, (5, 640)).astype(np.float32)
    assert pre.apply(features).shape == (5, 640)
    features[4, 7] = np.nan
    with pytest.raises(DataError, match=r"1 NaN values in the samples \(the first in sample 4\)"):
        pre.apply(features)
    with pytest.raises(DataError, match="NaN"):
        check_pixels(features, pre, source="x.npy")


def test_wrong_size_and_channels_are_refused_not_resized() -> None:
    mnist = _pixels(3, (28, 28, 1))
    with pytest.raises(DataError) as err:
        _int8_rgb32().apply(mnist)
    assert _one_line(err) == (
        "images are 28×28×1 but the model takes 32×32×3: resize them to 32×32 and convert them to RGB (3 channels) "
        "first (or quantize the model with preprocessing that does)"
    )
    with pytest.raises(DataError, match="images are 28×28×1 but"):
        _int8_rgb32().apply(mnist[..., 0])  # N×H×W: one channel
    with pytest.raises(DataError, match="images are 32×32×3 but the model takes 32×32×1: convert them to greyscale"):
        Preprocess.for_model((1, 32, 32, 1), "int8", 1.0, -128).apply(_pixels())
    with pytest.raises(DataError, match="resize them to 96×96 first"):
        Preprocess.for_model((1, 96, 96, 3), "int8", 1 / 255, -128).apply(_pixels())
    grey = Preprocess.for_model((1, 28, 28, 1), "float32")
    assert grey.apply(mnist[..., 0]).shape == (3, 28, 28, 1)  # N×H×W gets its channel axis


def test_for_model_no_longer_resizes_or_converts() -> None:
    for pre in (_int8_rgb32(), _float_rgb32(), Preprocess.for_model((1, 96, 96, 1), "int8", 0.0078125, -1)):
        assert pre.resize is None and not pre.grayscale and not pre.to_rgb


def test_explicit_preprocessing_still_resizes_and_converts() -> None:
    """A recorded preprocessing that asks for the conversion (the zoo's mobilenetv2_64: CIFAR 32×32 → 64×64)."""
    mobilenet = Preprocess(input_shape=(3, 64, 64), dtype="float32", resize=(64, 64), to_rgb=True,
                           channels_first=True, scale=(0.0159, 0.0161, 0.015), offset=(-1.99, -1.98, -1.71))
    assert mobilenet.apply(_pixels()).shape == (4, 3, 64, 64)
    assert mobilenet.apply(_pixels(2, (32, 32, 1))).shape == (2, 3, 64, 64)
    grey = Preprocess(input_shape=(16, 16, 1), dtype="float32", grayscale=True, resize=(16, 16), scale=1 / 255)
    assert grey.apply(_pixels(2, (20, 24, 3))).shape == (2, 16, 16, 1)
    with pytest.raises(DataError, match="look channels-first"):
        mobilenet.apply(_pixels().transpose(0, 3, 1, 2))


def test_channels_first_data_is_named() -> None:
    nchw = _pixels().transpose(0, 3, 1, 2)
    with pytest.raises(DataError) as err:
        _int8_rgb32().apply(nchw)
    assert _one_line(err) == (
        "the samples look channels-first (N×3×32×32); the model takes channels-last N×32×32×3: "
        "transpose them with x.transpose(0, 2, 3, 1)"
    )
    # a model that takes NCHW still takes channels-last raw images (the preprocessing transposes them)
    nchw_model = Preprocess.for_model((1, 3, 32, 32), "float32")
    assert nchw_model.channels_first and nchw_model.apply(_pixels()).shape == (4, 3, 32, 32)
    with pytest.raises(DataError, match=r"channels-first \(N×3×32×32\)"):
        nchw_model.apply(nchw)
    with pytest.raises(DataError, match=r"channels-first \(N×1×28×28\)"):
        Preprocess.for_model((1, 28, 28, 1), "int8", 1.0, -128).apply(_pixels(2, (1, 28, 28)))
    with pytest.raises(DataError, match="without the batch axis"):
        _int8_rgb32().apply(_pixels(1)[0])
    with pytest.raises(DataError, match="look channels-first"):
        check_image_shape(nchw, _int8_rgb32(), source="data.npz")


def test_check_messages_name_the_source() -> None:
    with pytest.raises(DataError, match=r"^cifar\.npz: uint16 images"):
        _int8_rgb32().apply(np.full((1, 32, 32, 3), 1000, np.uint16), source="cifar.npz")
    with pytest.raises(DataError, match=r"^cifar\.npz: images are 28×28×1"):
        check_image_shape(_pixels(1, (28, 28, 1)), _int8_rgb32(), source="cifar.npz")


def test_apply_stays_fast_on_10000_images() -> None:
    pre = _int8_rgb32()
    images = RNG.integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8)
    floats = images.astype(np.float32)
    start = time.perf_counter()
    check_pixels(images, pre)
    check_image_shape(images, pre)
    uint8_seconds = time.perf_counter() - start
    start = time.perf_counter()
    check_pixels(floats, pre)
    float_seconds = time.perf_counter() - start
    assert uint8_seconds < 0.05 and float_seconds < 2.0, (uint8_seconds, float_seconds)


# ---- finding 2: labels beyond the model's outputs -----------------------------------------------


def test_labels_out_of_range_are_an_error() -> None:
    labels = np.arange(10, 20).repeat(3)
    with pytest.raises(DataError) as err:
        check_labels(labels, 10, "cifar.npz")
    assert _one_line(err).startswith(
        "cifar.npz: labels go up to 19 but the model has 10 outputs (classes 0..9): check the label file"
    )
    check_labels(np.arange(10), 10, "cifar.npz")
    check_labels([0, 1, 1], 1, "x")  # one sigmoid output scores classes 0 and 1
    with pytest.raises(DataError, match="up to 2 but the model has 1 output "):
        check_labels([0, 2], 1, "x")
    check_labels(None, 10)
    assert class_names_mismatch(["a", "b"], 10, "d.npz") == (
        "d.npz names 2 classes but the model has 10 outputs: the per-class names in this report may be wrong"
    )
    assert class_names_mismatch([str(i) for i in range(10)], 10) is None
    assert class_names_mismatch(None, 10) is None


def _outputs(labels: np.ndarray, correct: float, classes: int = 10, seed: int = 0) -> np.ndarray:
    """int8 outputs whose top-1 matches `labels` for the first `correct` fraction of the samples."""
    rng = np.random.default_rng(seed)
    out = rng.integers(-128, 0, (len(labels), classes)).astype(np.int8)
    right = int(round(correct * len(labels)))
    out[np.arange(right), labels[:right] % classes] = 127
    wrong = (labels[right:] + 1) % classes
    out[np.arange(right, len(labels)), wrong] = 127
    return out


def test_labels_out_of_range_do_not_pass() -> None:
    """Before: 0 % accuracy and `overall: PASS`; now a warning and the verdict WARN."""
    labels = np.arange(10, 20).repeat(3)
    device = _outputs(labels, 1.0)  # predicts label % 10: never the label itself
    result = ValidationResult.compute(device, host_outputs=device.copy(), labels=labels,
                                      rom_bytes=10, board_flash_bytes=100)
    assert result.accuracy["device"] == 0.0 and result.bitexact_all and result.fits
    text = render_text(result)
    assert "overall: PASS" not in text
    assert result.verdict == "WARN"
    assert any(w.startswith("labels go up to 19 but the model has 10 outputs (classes 0..9)")
               for w in result.warnings)
    assert text.splitlines()[-1] == f"overall: WARN ({len(result.warnings)} warnings)"


# ---- finding 3: pixel scale 0, NaN, wrong length ------------------------------------------------


@pytest.mark.parametrize("scale", [0.0, float("nan"), float("inf"), (1.0, 0.0, 1.0)])
def test_bad_pixel_scale_is_a_clear_error(scale: float | tuple[float, ...]) -> None:
    with pytest.raises(DataError, match="pixel scale .* is not valid: real = pixel·scale \\+ offset needs a finite, "
                                        "non-zero number") as err:
        replace(_float_rgb32(), scale=scale)  # what --pixel-scale does
    assert "--pixel-scale" in _one_line(err)
    with pytest.raises(DataError, match="is not valid"):
        Preprocess.from_dict({**_float_rgb32().to_dict(), "scale": scale if isinstance(scale, float) else list(scale)})


def test_bad_pixel_offset_and_lengths() -> None:
    with pytest.raises(DataError, match="pixel offset nan is not valid"):
        replace(_float_rgb32(), offset=float("nan"))
    with pytest.raises(DataError) as err:
        replace(_float_rgb32(), scale=(1.0, 2.0))  # --pixel-scale 1,2 on 3 channels
    assert _one_line(err).startswith(
        "pixel scale has 2 values but the model's input has 3 channels: give one value or 3 (one per channel)"
    )
    with pytest.raises(DataError, match="pixel offset has 2 values"):
        Preprocess(input_shape=(3, 8, 8), dtype="float32", channels_first=True, offset=(0.0, 1.0))
    check_pixel_transform((1.0, 2.0, 3.0), 0.0, 3)
    check_pixel_transform(-1.0, (0.0,), 3)  # a negative scale inverts, it is not implausible
    with pytest.raises(DataError, match="no values"):
        check_pixel_transform((), 0.0, 3)
    assert Preprocess(input_shape=(2,), dtype="float32", scale=(1.0, 2.0)).apply(np.ones((1, 2))).tolist() == [[1, 2]]


# ---- finding 4: empty datasets and empty files --------------------------------------------------


def test_empty_npz_is_an_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 32, 32, 3), np.uint8), labels=np.zeros(0, np.int64))
    with pytest.raises(DataError, match=r"empty\.npz holds no samples"):
        load_dataset(tmp_path / "empty.npz")
    np.savez(tmp_path / "jpeg.npz", jpeg_blob=np.zeros(0, np.uint8), offsets=np.zeros(1, np.int64),
             labels=np.zeros(0, np.int64))
    with pytest.raises(DataError, match="holds no samples"):
        load_dataset(tmp_path / "jpeg.npz")


def test_zero_row_npy_is_an_error(tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((0, 640), np.float32))
    with pytest.raises(DataError, match=r"rows\.npy holds no samples"):
        load_dataset(tmp_path / "rows.npy")
    np.save(tmp_path / "scalar.npy", np.float32(3.0))
    with pytest.raises(DataError, match="single value"):
        load_dataset(tmp_path / "scalar.npy")


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".png"])
def test_zero_byte_file_is_an_error(tmp_path: Path, suffix: str) -> None:
    """Before: np.load raised EOFError and the CLI printed only "Aborted!"."""
    path = tmp_path / f"data{suffix}"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        load_dataset(path)


def test_truncated_files_are_an_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "full.npz", images=_pixels(50), labels=np.arange(50) % 10)
    np.save(tmp_path / "full.npy", _pixels(50))
    for name in ("full.npz", "full.npy"):
        data = (tmp_path / name).read_bytes()
        for cut in (10, len(data) // 2, len(data) - 7):
            path = tmp_path / f"cut{cut}_{name}"
            path.write_bytes(data[:cut])
            with pytest.raises(DataError):
                load_dataset(path)
    check_not_empty(1, "x")
    with pytest.raises(DataError, match="x holds no samples"):
        check_not_empty(0, "x")


# ---- the verdict and the warnings ---------------------------------------------------------------


def _validated(**overrides: object) -> ValidationResult:
    labels = np.arange(40) % 10
    device = _outputs(labels, 0.9)
    kwargs: dict[str, object] = {"host_outputs": device.copy(), "labels": labels, "rom_bytes": 10,
                                 "board_flash_bytes": 100}
    kwargs.update(overrides)
    return ValidationResult.compute(kwargs.pop("device", device), **kwargs)  # type: ignore[arg-type]


def test_verdict_pass() -> None:
    result = _validated()
    assert result.accuracy["device"] == 90.0 and result.warnings == []
    assert result.verdict == "PASS"
    assert render_text(result).splitlines()[-1] == "overall: PASS"


def test_verdict_fail() -> None:
    host = _outputs(np.arange(40) % 10, 0.9)
    host[0] = 0
    result = _validated(host_outputs=host)
    assert result.verdict == "FAIL"
    assert render_text(result).splitlines()[-1] == "overall: FAIL"
    assert _validated(rom_bytes=1000).verdict == "FAIL"  # does not fit the board


def test_verdict_warn_lists_the_warnings() -> None:
    result = _validated(warnings=["the data names 2 classes but the model has 10 outputs"])
    assert result.verdict == "WARN"
    lines = render_text(result).splitlines()
    assert lines[-1] == "overall: WARN (1 warning)"
    assert "warnings (1):" in lines
    assert lines.index("warnings (1):") < len(lines) - 2  # before the rule and the overall line
    assert all(len(line) <= 100 for line in lines)


def test_verdict_not_validated() -> None:
    """Before: `overall: no checks`, easy to read as nothing wrong."""
    result = ValidationResult.compute(_outputs(np.arange(40) % 10, 0.9))
    last = render_text(result).splitlines()[-1]
    assert result.checks == {} and result.verdict == "NOT VALIDATED"
    assert last.startswith("overall: NOT VALIDATED (no checks ran: ") and "no host outputs" in last
    assert len(last) <= 100


def test_chance_level_top1_warns() -> None:
    labels = np.arange(100) % 10
    result = _validated(device=_outputs(labels, 0.1), host_outputs=_outputs(labels, 0.1), labels=labels)
    assert result.bitexact_all and result.accuracy["device"] == 10.0
    assert result.warnings == [
        "device top-1 10.0 % is chance level for 10 classes: the inputs are probably not what the model expects "
        "(check the preprocessing: --pixel-scale/--pixel-offset)"
    ]
    assert result.verdict == "WARN"
    text = render_text(result)
    assert "chance level" in text and "overall: PASS" not in text


def test_chance_level_with_the_float_model() -> None:
    labels = np.arange(100) % 10
    wrong = _outputs(labels, 0.12)
    good = _outputs(labels, 0.9).astype(np.float32)
    both = _validated(device=wrong, host_outputs=wrong.copy(), float_outputs=wrong.astype(np.float32), labels=labels)
    assert len(both.warnings) == 2 and "chance level for 10 classes too" in both.warnings[1]
    assert "do not match the model" in both.warnings[1]
    device_only = _validated(device=wrong, host_outputs=wrong.copy(), float_outputs=good, labels=labels)
    assert len(device_only.warnings) == 1 and "while the float model reaches 90.0 %" in device_only.warnings[0]


def test_chance_level_bound() -> None:
    # 10 classes, 100 labels: chance 10 %, two binomial sigmas 6 points: bound max(16, min(15, 15)) = 16 %
    labels = np.arange(100) % 10
    assert _validated(device=_outputs(labels, 0.16), host_outputs=None, labels=labels).warnings != []
    assert _validated(device=_outputs(labels, 0.17), host_outputs=None, labels=labels).warnings == []
    few = np.arange(19) % 10  # too few labels to tell
    assert _validated(device=_outputs(few, 0.0), host_outputs=None, labels=few).warnings == []
    # 2 classes, 40 labels: 50 % + 2 sigmas (7.9 points) = 65.8 %; a 70 % binary classifier is no accident
    binary = np.arange(40) % 2
    assert _validated(device=_outputs(binary, 0.65, 2), host_outputs=None, labels=binary).warnings != []
    assert _validated(device=_outputs(binary, 0.7, 2), host_outputs=None, labels=binary).warnings == []


def test_class_names_count_warns() -> None:
    result = _validated(class_names=["a", "b", "c"])
    assert result.warnings == ["the data names 3 classes but the model has 10 outputs: the per-class names may "
                               "be wrong"]
    many = _validated(class_names=[str(i) for i in range(5)], labels=np.arange(40) % 10)
    assert set(many.per_class_accuracy["device"]) == {str(i) for i in range(10)}


def test_warnings_and_preprocessing_round_trip_through_json() -> None:
    from edgekit.data.preprocess import describe

    line = describe(_int8_rgb32(), recorded=True)
    assert line == "real = pixel·0.00392 + 0 → int8 (scale 0.00392, zero point -128), recorded in the model"
    result = _validated(preprocess=line, warnings=["something odd"])
    data = json.loads(json.dumps(result.to_json()))
    assert data["warnings"] == ["something odd"] and data["preprocess"] == line and data["verdict"] == "WARN"
    assert ValidationResult.from_json(data) == result
    assert ValidationResult.from_json({k: v for k, v in data.items() if k != "warnings"}).warnings == []
    lines = render_text(result).splitlines()
    assert lines[1] == f"input: {line}"


def test_describe() -> None:
    from edgekit.data.preprocess import describe

    assert describe(_float_rgb32(), recorded=False) == (
        "real = pixel·0.00392 + 0 → float32, edgekit's default (the model records no preprocessing)"
    )
    features = describe(Preprocess.for_model((1, 640), "float32", pixels=False), recorded=False)
    assert features.startswith("real = sample·1 + 0 → float32")
    zoo = Preprocess(input_shape=(3, 64, 64), dtype="float32", resize=(64, 64), to_rgb=True, channels_first=True,
                     scale=(0.0159, 0.0161, 0.015), offset=(-1.99, -1.98, -1.71))
    assert describe(zoo, recorded=True) == (
        "real = pixel·(0.0159, 0.0161, 0.015) + (-1.99, -1.98, -1.71) → float32 after grey→RGB if grey, "
        "resize to 64×64, NHWC→NCHW, recorded in the model"
    )


def test_validate_without_model_never_reshapes_images_into_another_input(tmp_path: Path) -> None:
    """Finding 7: `edgekit validate` without --model on a KWS board (49×10×1 input) with CIFAR images
    reshaped them silently and reported 10 % with 'no checks'; now the data is refused."""
    from edgekit.emit import ModelInfo, TensorInfo
    from edgekit.pipeline import model_samples

    npz = tmp_path / "cifar_like.npz"
    np.savez(npz, images=RNG.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), labels=np.arange(20) % 10)
    kws = TensorInfo((1, 49, 10, 1), "int8", 0.5847, 83)
    info = ModelInfo(name="kws", input=kws, output=TensorInfo((1, 12), "int8", 1 / 256, -128), arena_bytes=0,
                     weights_bytes=0, layer_names=[], model_hash=0)
    pre = Preprocess.for_model(kws.shape, kws.dtype, kws.scale, kws.zero_point)
    with pytest.raises(DataError, match="model takes 49×10×1"):
        model_samples(info, pre, npz, None)
