"""Tests of edgekit.data: dataset loading, class-balanced subsets, preprocessing, random inputs."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgekit.data import Dataset, Preprocess, balanced_indices, load_dataset, quantize, random_inputs
from edgekit.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CIFAR_TEST = SHARED / "datasets" / "cifar10" / "cifar10_test_jpeg.npz"
needs_cifar = pytest.mark.skipif(not CIFAR_TEST.exists(), reason=f"{CIFAR_TEST} is absent (../shared)")


def _rgb(seed: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _jpeg_npz(path: Path, labels: list[int], names: list[str]) -> list[bytes]:
    blobs = []
    for i in range(len(labels)):
        buffer = io.BytesIO()
        Image.fromarray(_rgb(i)).save(buffer, format="JPEG", quality=90)
        blobs.append(buffer.getvalue())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    blob = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    np.savez(path, jpeg_blob=blob, offsets=offsets, labels=np.asarray(labels, np.uint8), class_names=names)
    return blobs


# ---- loading -------------------------------------------------------------------------------------


def test_npz_with_images_and_labels(tmp_path: Path) -> None:
    images = np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3)
    np.savez(tmp_path / "d.npz", images=images, labels=[0, 1, 0, 1, 2], class_names=["a", "b", "c"])
    data = load_dataset(tmp_path / "d.npz")
    assert isinstance(data, Dataset)
    np.testing.assert_array_equal(data.images, images)
    assert data.labels.tolist() == [0, 1, 0, 1, 2]
    assert data.class_names == ["a", "b", "c"]
    assert data.num_classes == 3 and len(data) == 5
    assert data.source.endswith("d.npz")


def test_npz_with_x_y_and_one_hot_labels(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[2, 0, 1, 2]]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.images, x)
    assert data.labels.tolist() == [2, 0, 1, 2]
    assert data.class_names is None


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad_keys.npz", pictures=np.zeros((2, 3)))
    with pytest.raises(DataError, match="looks for one of"):
        load_dataset(tmp_path / "bad_keys.npz")
    np.savez(tmp_path / "mismatch.npz", images=np.zeros((3, 2, 2, 1)), labels=[0, 1])
    with pytest.raises(DataError, match="3 samples but 'labels' has 2"):
        load_dataset(tmp_path / "mismatch.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(tmp_path / "broken.npz")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.npz")
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="unknown data format"):
        load_dataset(tmp_path / "data.csv")
    np.savez(tmp_path / "neg.npz", images=np.zeros((2, 2)), labels=[0, -1])
    with pytest.raises(DataError, match="≥ 0"):
        load_dataset(tmp_path / "neg.npz")
    with pytest.raises(DataError, match="positive"):
        load_dataset(tmp_path / "neg.npz", limit=0)


def test_npy_has_no_labels_and_limit_is_seeded(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(20).reshape(10, 2))
    data = load_dataset(tmp_path / "a.npy", limit=4, seed=1)
    assert data.labels is None and data.images.shape == (4, 2)
    again = load_dataset(tmp_path / "a.npy", limit=4, seed=1)
    np.testing.assert_array_equal(data.images, again.images)
    assert np.all(np.diff(data.images[:, 0]) > 0)  # original order kept


def test_jpeg_npz_decodes_only_the_subset_in_order(tmp_path: Path) -> None:
    labels = [0] * 5 + [1] * 5 + [2] * 5
    blobs = _jpeg_npz(tmp_path / "j.npz", labels, ["x", "y", "z"])
    full = load_dataset(tmp_path / "j.npz")
    assert full.images.shape == (15, 8, 6, 3) and full.images.dtype == np.uint8
    expected = np.asarray(Image.open(io.BytesIO(blobs[7])).convert("RGB"))
    np.testing.assert_array_equal(full.images[7], expected)
    assert full.class_names == ["x", "y", "z"]
    sub = load_dataset(tmp_path / "j.npz", limit=6, seed=4)
    assert np.bincount(sub.labels).tolist() == [2, 2, 2]
    assert sub.labels.tolist() == sorted(sub.labels.tolist())
    for image in sub.images:  # each subset image is one of the full set's images
        assert any(np.array_equal(image, other) for other in full.images)


def test_jpeg_npz_bad_offsets(tmp_path: Path) -> None:
    np.savez(tmp_path / "j.npz", jpeg_blob=np.zeros(10, np.uint8), offsets=[0, 5], labels=[0, 1])
    with pytest.raises(DataError, match="need 3 offsets"):
        load_dataset(tmp_path / "j.npz")


def test_image_folder(tmp_path: Path) -> None:
    for cls, count in (("dog", 3), ("cat", 2)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            Image.fromarray(_rgb(i)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    data = load_dataset(tmp_path)
    assert data.class_names == ["cat", "dog"]
    assert data.labels.tolist() == [0, 0, 1, 1, 1]
    assert data.images.shape == (5, 8, 6, 3)
    np.testing.assert_array_equal(data.images[2], _rgb(0))


def test_greyscale_folder_stays_one_channel(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    grey = np.arange(48, dtype=np.uint8).reshape(8, 6)
    Image.fromarray(grey).save(tmp_path / "a" / "0.bmp")
    Image.fromarray(grey).save(tmp_path / "a" / "1.png")
    data = load_dataset(tmp_path)
    assert data.images.shape == (2, 8, 6, 1)
    np.testing.assert_array_equal(data.images[0, :, :, 0], grey)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no images found"):
        load_dataset(tmp_path)
    (tmp_path / "a").mkdir()
    Image.fromarray(_rgb(0, (8, 6))).save(tmp_path / "a" / "0.png")
    Image.fromarray(_rgb(1, (5, 5))).save(tmp_path / "a" / "1.png")
    with pytest.raises(DataError, match="different sizes"):
        load_dataset(tmp_path)
    (tmp_path / "a" / "1.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot decode"):
        load_dataset(tmp_path)


def test_balanced_indices() -> None:
    labels = np.asarray([0] * 50 + [1] * 3 + [2] * 40)
    picked = balanced_indices(labels, 20, seed=0)
    counts = np.bincount(labels[picked]).tolist()
    assert counts[1] == 3 and sorted(counts) == [3, 8, 9] and sum(counts) == 20
    assert picked.tolist() == sorted(picked.tolist())
    np.testing.assert_array_equal(picked, balanced_indices(labels, 20, seed=0))
    assert not np.array_equal(picked, balanced_indices(labels, 20, seed=1))
    assert len(balanced_indices(labels, 1000)) == len(labels)
    even = np.bincount(labels[balanced_indices(labels, 9, seed=5)]).tolist()
    assert even == [3, 3, 3]


# ---- preprocessing -------------------------------------------------------------------------------


def test_quantize_rounds_half_away_from_zero_and_clamps() -> None:
    real = np.asarray([2.5, -2.5, 0.5, -0.5, 1.49, 1000.0, -1000.0], dtype=np.float32)
    assert quantize(real, 1.0, 0).tolist() == [3, -3, 1, -1, 1, 127, -128]
    assert quantize(np.float32([0.49999997]), 1.0, 0).tolist() == [0]  # no float32 +0.5 error
    assert quantize(np.float32([1.0]), 0.5, -128, "uint8").tolist() == [0]
    assert quantize(np.float32([1.0]), 0.5, 10, "int16").tolist() == [12]


@pytest.mark.parametrize("scale", [1.0, 1 / 255, float(np.float32(1 / 255))])
def test_default_pixel_mapping_is_pixel_minus_128(scale: float) -> None:
    pre = Preprocess.for_model((1, 16, 16, 1), "int8", scale, -128)
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    out = pre.apply(pixels)
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out.astype(int).ravel(), np.arange(256) - 128)


def test_for_model_resnet8_and_vww() -> None:
    resnet = Preprocess.for_model((1, 32, 32, 3), "int8", 1.0, -128)
    # the default never resizes or recolours silently (robustness issue, finding 6)
    assert (resnet.scale, resnet.offset, resnet.resize) == (1.0, 0.0, None)
    assert resnet.input_shape == (32, 32, 3) and not resnet.to_rgb and not resnet.grayscale
    vww = Preprocess.for_model((1, 96, 96, 3), "int8", 1 / 255, -128)
    assert vww.scale == pytest.approx(1 / 255) and vww.offset == pytest.approx(0.0)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="resize them to 96×96"):
        vww.apply(images)
    assert replace(vww, resize=(96, 96)).apply(images).shape == (2, 96, 96, 3)  # asked for: done
    floats = Preprocess.for_model((32, 32, 3), "float32")
    out = floats.apply(images)
    assert out.dtype == np.float32 and out.max() <= 1.0
    raw = Preprocess.for_model((1, 640), "float32", pixels=False)
    samples = np.ones((3, 640), np.float32) * 7
    np.testing.assert_array_equal(raw.apply(samples), samples)


def test_channel_conversion_and_resize() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (2, 12, 10, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="convert them to greyscale"):
        Preprocess.for_model((12, 10, 1), "float32", pixels=False).apply(rgb)  # not silently
    grey = replace(Preprocess.for_model((12, 10, 1), "float32", pixels=False), grayscale=True).apply(rgb)
    expected = np.asarray(Image.fromarray(rgb[0]).convert("L"), dtype=np.float32)
    np.testing.assert_array_equal(grey[0, :, :, 0], expected)  # same as Pillow's convert("L")
    to_rgb = replace(Preprocess.for_model((6, 5, 3), "int8", 1.0, -128), to_rgb=True, resize=(6, 5))
    out = to_rgb.apply(rgb[:, :, :, :1])
    assert out.shape == (2, 6, 5, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    no_channel = Preprocess.for_model((12, 10, 1), "int8", 1.0, -128).apply(rgb[..., 0])
    assert no_channel.shape == (2, 12, 10, 1)


def test_channels_first_and_per_channel_normalisation() -> None:
    pre = Preprocess(
        input_shape=(3, 4, 4),
        dtype="float32",
        channels_first=True,
        resize=(4, 4),
        scale=(1.0, 2.0, 3.0),
        offset=(0.0, 0.0, -1.0),
    )
    assert Preprocess.for_model((1, 3, 4, 4), "float32").channels_first
    out = pre.apply(np.ones((1, 4, 4, 3), dtype=np.uint8))
    assert out.shape == (1, 3, 4, 4)
    assert out[0, :, 0, 0].tolist() == [1.0, 2.0, 2.0]


def test_preprocess_round_trips_through_json() -> None:
    pre = Preprocess.for_model((1, 96, 96, 1), "int8", 0.0078125, -1)
    data = json.loads(json.dumps(pre.to_dict()))
    assert data["version"] == 1
    assert Preprocess.from_dict(data) == pre
    tupled = Preprocess(input_shape=(2,), dtype="float32", scale=(1.0, 2.0))
    assert Preprocess.from_dict(json.loads(json.dumps(tupled.to_dict()))) == tupled


def test_preprocess_errors() -> None:
    with pytest.raises(DataError, match="unknown preprocessing keys"):
        Preprocess.from_dict({"input_shape": [2], "dtype": "float32", "mean": 1})
    with pytest.raises(DataError, match="lacks 'input_shape'"):
        Preprocess.from_dict({"dtype": "float32"})
    with pytest.raises(DataError, match="version 9"):
        Preprocess.from_dict({"version": 9, "input_shape": [2]})
    with pytest.raises(DataError, match="positive input scale"):
        Preprocess(input_shape=(2,), dtype="int8")
    with pytest.raises(DataError, match="not supported"):
        Preprocess(input_shape=(2,), dtype="float64")
    pre = Preprocess.for_model((1, 10), "int8", 0.1, 0, pixels=False)
    with pytest.raises(DataError, match=r"model takes \(10,\)"):
        pre.apply(np.zeros((2, 11)))


# ---- random inputs -------------------------------------------------------------------------------


def test_random_inputs() -> None:
    a = random_inputs((4, 4, 3), "int8", 50, seed=3)
    assert a.shape == (50, 4, 4, 3) and a.dtype == np.int8
    assert a.min() == -128 and a.max() == 127
    np.testing.assert_array_equal(a, random_inputs((4, 4, 3), "int8", 50, seed=3))
    assert not np.array_equal(a, random_inputs((4, 4, 3), "int8", 50, seed=4))
    f = random_inputs([10], "float32", 5, seed=0)
    assert f.dtype == np.float32 and np.all(np.abs(f) <= 1.0)
    with pytest.raises(DataError):
        random_inputs([2], "complex64", 1)


# ---- the shared CIFAR-10 JPEG set ----------------------------------------------------------------


@needs_cifar
def test_cifar_limit_100_is_balanced_and_decoded() -> None:
    start = time.perf_counter()
    data = load_dataset(CIFAR_TEST, limit=100, seed=0)
    elapsed = time.perf_counter() - start
    assert data.images.shape == (100, 32, 32, 3) and data.images.dtype == np.uint8
    assert np.bincount(data.labels, minlength=10).tolist() == [10] * 10
    assert data.class_names[0] == "airplane" and len(data.class_names) == 10
    assert data.images.std() > 20  # real pictures, not blanks
    assert elapsed < 5.0


@needs_cifar
def test_cifar_full_test_set_matches_pillow() -> None:
    archive = np.load(CIFAR_TEST)
    blob, offsets = archive["jpeg_blob"], archive["offsets"]
    first = np.asarray(Image.open(io.BytesIO(blob[offsets[0] : offsets[1]].tobytes())).convert("RGB"))
    full = load_dataset(CIFAR_TEST)
    assert first.shape == (32, 32, 3)
    assert full.images.shape == (10_000, 32, 32, 3)
    np.testing.assert_array_equal(full.images[0], first)
    assert np.bincount(full.labels).tolist() == [1000] * 10
    resnet = Preprocess.for_model((1, 32, 32, 3), "int8", 1.0, -128).apply(full.images[:5])
    np.testing.assert_array_equal(resnet.astype(int), full.images[:5].astype(int) - 128)
