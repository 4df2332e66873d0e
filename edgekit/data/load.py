"""Load datasets of raw samples from disk (npz, npy, CIFAR JPEG npz, image folders)."""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgekit.data.checks import check_not_empty
from edgekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_IMAGE_KEYS = ("images", "x", "x_test", "inputs")
_LABEL_KEYS = ("labels", "y", "y_test", "targets")
_FORMATS_HINT = (
    "edgekit reads an .npz (keys images/labels or x/y, or the CIFAR JPEG keys "
    "jpeg_blob/offsets/labels/class_names), an .npy array, a single image, or a folder "
    "with one sub-folder of images (png/jpg/bmp) per class"
)


@dataclass
class Dataset:
    """Raw samples as read from disk, before any preprocessing.

    `images` is N×H×W×C uint8 for images (C = 1 for greyscale, 3 for colour) or any
    N×… array of raw samples; `labels` holds N integer class indices when known.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: list[str] | None
    source: str

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.images):
            raise DataError(
                f"{self.source}: {len(self.images)} samples but {len(self.labels)} labels; "
                "give exactly one label per sample"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int | None:
        """Number of classes, from the class names or else the largest label."""
        if self.class_names is not None:
            return len(self.class_names)
        if self.labels is not None and len(self.labels):
            return int(self.labels.max()) + 1
        return None


def load_dataset(path: Path | str, *, limit: int | None = None, seed: int = 0) -> Dataset:
    """Read the dataset at `path`; with `limit`, a seeded class-balanced subset of it.

    The subset holds as equal a number of samples per class as possible, is the same for
    the same `seed`, and keeps the samples in their order in the file. Only the selected
    images are decoded. An empty, truncated or unreadable file and a dataset without
    samples are a :class:`DataError`.
    """
    path = Path(path)
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of samples, got {limit}")
    if not path.exists():
        raise DataError(f"no such file or folder: {path}; {_FORMATS_HINT}")
    if path.is_dir():
        return _load_folder(path, limit, seed)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", *IMAGE_SUFFIXES):
        raise DataError(f"{path}: unknown data format '{suffix or path.name}'; {_FORMATS_HINT}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes): it holds no samples; write it again (or give another file)")
    if suffix == ".npz":
        data = _load_npz(path, limit, seed)
    elif suffix == ".npy":
        images = _np_load(path)
        if not isinstance(images, np.ndarray) or images.ndim == 0:
            raise DataError(f"{path}: holds a single value, not an array of samples (N×…); {_FORMATS_HINT}")
        data = Dataset(_take(images, None, limit, seed), None, None, str(path))
    else:
        data = Dataset(_stack([_decode(path, str(path))], str(path)), None, None, str(path))
    check_not_empty(len(data), str(path))
    return data


def balanced_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of a seeded subset of `n` samples with as equal counts per class as possible.

    Classes with too few samples give all they have and the rest is shared among the
    others; when `n` does not divide evenly, the seed picks which classes get one more.
    The indices are returned in ascending order.
    """
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(labels, return_inverse=True)
    available = np.bincount(inverse)
    quota = np.zeros_like(available)
    remaining = n
    while remaining > 0:
        spare = np.flatnonzero(quota < available)
        share = remaining // len(spare)
        if share == 0:
            quota[rng.choice(spare, size=remaining, replace=False)] += 1
            break
        add = np.minimum(share, available[spare] - quota[spare])
        quota[spare] += add
        remaining -= int(add.sum())
    picks = [rng.permutation(np.flatnonzero(inverse == c))[: quota[c]] for c in range(len(available))]
    return np.sort(np.concatenate(picks))


def _select(n: int, labels: np.ndarray | None, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    if labels is None:
        return np.sort(np.random.default_rng(seed).permutation(n)[:limit])
    return balanced_indices(labels, limit, seed)


def _take(images: np.ndarray, labels: np.ndarray | None, limit: int | None, seed: int) -> np.ndarray:
    return images[_select(len(images), labels, limit, seed)]


def _np_load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except EOFError as exc:
        raise DataError(f"{path}: the file ends early (truncated or empty); write it again") from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read it as a NumPy file ({exc}); {_FORMATS_HINT}") from exc


def _member(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """One array of an .npz archive; a truncated or corrupt member is a DataError."""
    try:
        return archive[key]
    except (EOFError, OSError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: cannot read '{key}' ({exc or type(exc).__name__}); the file is "
                        "truncated or corrupt: write it again") from exc


def _load_npz(path: Path, limit: int | None, seed: int) -> Dataset:
    archive = _np_load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not an .npz archive; {_FORMATS_HINT}")
    with archive:
        keys = set(archive.files)
        class_names = _class_names(_member(archive, "class_names", path)) if "class_names" in keys else None
        if "jpeg_blob" in keys:
            return _load_jpeg_npz(path, archive, class_names, limit, seed)
        image_key = next((k for k in _IMAGE_KEYS if k in keys), None)
        if image_key is None:
            raise DataError(
                f"{path}: no samples found; it has keys {sorted(keys)} but edgekit looks for one "
                f"of {list(_IMAGE_KEYS)} (and labels in one of {list(_LABEL_KEYS)})"
            )
        images = _member(archive, image_key, path)
        label_key = next((k for k in _LABEL_KEYS if k in keys), None)
        labels = _labels(_member(archive, label_key, path), f"{path}[{label_key}]") if label_key else None
    if images.ndim == 0:
        raise DataError(f"{path}: '{image_key}' is a single value, not an array of samples (N×…)")
    if labels is not None and len(labels) != len(images):
        raise DataError(
            f"{path}: '{image_key}' has {len(images)} samples but '{label_key}' has "
            f"{len(labels)} labels; give exactly one label per sample"
        )
    index = _select(len(images), labels, limit, seed)
    return Dataset(images[index], None if labels is None else labels[index], class_names, str(path))


def _load_jpeg_npz(
    path: Path, archive: np.lib.npyio.NpzFile, class_names: list[str] | None, limit: int | None, seed: int
) -> Dataset:
    missing = [k for k in ("offsets", "labels") if k not in archive.files]
    if missing:
        raise DataError(
            f"{path}: JPEG dataset without {missing}; it needs jpeg_blob, offsets (N+1) and labels (N)"
        )
    blob = _member(archive, "jpeg_blob", path)
    offsets = np.asarray(_member(archive, "offsets", path), dtype=np.int64)
    labels = _labels(_member(archive, "labels", path), f"{path}[labels]")
    if len(offsets) != len(labels) + 1:
        raise DataError(
            f"{path}: {len(labels)} labels need {len(labels) + 1} offsets, found {len(offsets)}; "
            "offsets[i]:offsets[i+1] must delimit image i in jpeg_blob"
        )
    if len(offsets) and (offsets[0] < 0 or offsets[-1] > blob.size or np.any(np.diff(offsets) <= 0)):
        raise DataError(f"{path}: offsets are not increasing within jpeg_blob ({blob.size} bytes)")
    index = _select(len(labels), labels, limit, seed)
    data = blob.tobytes()
    images = [_decode(io.BytesIO(data[offsets[i] : offsets[i + 1]]), f"{path} image {i}") for i in index]
    return Dataset(_stack(images, str(path)), labels[index], class_names, str(path))


def _load_folder(path: Path, limit: int | None, seed: int) -> Dataset:
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels_list: list[int] = []
    class_names: list[str] = []
    for folder in folders:
        found = _image_files(folder)
        if found:
            labels_list += [len(class_names)] * len(found)
            class_names.append(folder.name)
            files += found
    labels: np.ndarray | None = np.asarray(labels_list, dtype=np.int64)
    if not files:
        files, labels, class_names = _image_files(path), None, []
    if not files:
        raise DataError(
            f"{path}: no images found; put the images (png/jpg/bmp) in one sub-folder per class, "
            "e.g. data/cat/001.png, data/dog/002.png"
        )
    index = _select(len(files), labels, limit, seed)
    images = _stack([_decode(files[i], str(files[i])) for i in index], str(path))
    return Dataset(images, None if labels is None else labels[index], class_names or None, str(path))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _decode(source: Path | io.BytesIO, name: str) -> np.ndarray:
    """Decode one image to H×W×C uint8: greyscale stays 1 channel, all else becomes RGB."""
    try:
        with Image.open(source) as image:
            grey = image.mode in ("1", "L", "LA", "I", "I;16", "F")
            array = np.asarray(image.convert("L" if grey else "RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{name}: cannot decode the image ({exc}); re-save it as PNG or JPEG") from exc
    return array[:, :, None] if array.ndim == 2 else array


def _stack(images: list[np.ndarray], source: str) -> np.ndarray:
    if not images:
        return np.zeros((0, 0, 0, 0), dtype=np.uint8)
    if any(a.shape[2] == 3 for a in images):
        images = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in images]
    sizes = {a.shape[:2] for a in images}
    if len(sizes) > 1:
        shown = ", ".join(f"{h}×{w}" for h, w in sorted(sizes)[:4])
        raise DataError(
            f"{source}: images have different sizes ({shown}); resize them all to one size before validation"
        )
    return np.stack(images)


def _labels(raw: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(raw)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)  # one-hot
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim != 1 or labels.dtype.kind not in "iuf":
        raise DataError(f"{name}: labels must be N class indices (or N×K one-hot), got {labels.shape}")
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise DataError(f"{name}: labels must be whole class indices, found fractional values")
    if labels.size and labels.min() < 0:
        raise DataError(f"{name}: labels must be class indices ≥ 0, found {labels.min()}")
    return labels.astype(np.int64)


def _class_names(raw: np.ndarray) -> list[str]:
    return [str(name) for name in np.asarray(raw).reshape(-1)]
