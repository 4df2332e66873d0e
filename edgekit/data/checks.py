"""Plausibility checks of raw data against a model: implausible data is an error, never coerced.

Each check is a pure function that raises :class:`DataError` with a one-line message saying
what is wrong and what to do (or, for `class_names_mismatch`, returns a warning text):

- :func:`check_pixels`: raw image samples are 8-bit pixels 0..255 when the preprocessing maps
  pixels (see :func:`expects_pixels`); other samples must be finite (:func:`check_finite`).
- :func:`check_image_shape`: images have the model's H×W and channel count unless the
  preprocessing asks for the resize/conversion; channels-first data is recognised.
- :func:`check_pixel_transform`: ``real = pixel·scale + offset`` has finite, non-zero scales,
  finite offsets and one value or one per channel.
- :func:`check_labels`, :func:`class_names_mismatch`, :func:`check_not_empty`: labels and datasets.

:meth:`Preprocess.apply` runs the sample checks on every batch it preprocesses; they are
vectorised (a uint8 batch costs nothing, a float batch a few passes over it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from edgekit.errors import DataError

if TYPE_CHECKING:
    from edgekit.data.preprocess import Preprocess

_CHUNK = 1 << 20  # elements per pass of the fractional-value test (bounds its temporary memory)
PIXEL_RANGE_SLACK = 0.05  # an identity onto a quantized input whose real range is 0..255 within 5 % takes pixels


def _values(value: float | Sequence[float]) -> tuple[float, ...]:
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
    return (float(value),)


def is_identity(pre: Preprocess) -> bool:
    """Whether the preprocessing takes the samples as real values (scale 1, offset 0)."""
    return all(v == 1.0 for v in _values(pre.scale)) and all(v == 0.0 for v in _values(pre.offset))


def expects_pixels(pre: Preprocess) -> bool:
    """Whether `pre` takes 8-bit pixels 0..255 as raw samples.

    True for image inputs whose ``real = pixel·scale + offset`` is not the identity (the
    default pixel mapping, a recorded normalisation), and for the identity onto a quantized
    input whose real range is 0..255 (int8 scale 1, zero point −128: real = pixel). The
    identity onto a float input (``--pixel-scale 1``) or onto another quantized range means
    the samples are real values already; non-image samples (features) are never pixels.
    """
    if not pre.is_image:
        return False
    if not is_identity(pre):
        return True
    if not pre.quantized or not pre.input_scale:
        return False
    info = np.iinfo(pre.dtype)
    low = (int(info.min) - pre.input_zero_point) * float(pre.input_scale)
    high = (int(info.max) - pre.input_zero_point) * float(pre.input_scale)
    slack = PIXEL_RANGE_SLACK * 255.0
    return abs(low) <= slack and abs(high - 255.0) <= slack


def _model_hwc(pre: Preprocess) -> tuple[int, int, int]:
    shape = pre.input_shape
    if pre.channels_first:
        return shape[1], shape[2], shape[0]
    return shape[0], shape[1], shape[2]


def _fmt_shape(dims: Sequence[int]) -> str:
    return "×".join(str(int(d)) for d in dims)


def _at(source: str | None) -> str:
    """The message prefix naming where the data came from ("" when unknown)."""
    return f"{source}: " if source else ""


def _nonfinite(x: np.ndarray, what: str, source: str | None) -> None:
    """Refuse NaN/inf values of a float array (one vectorised pass when all are finite)."""
    if x.dtype.kind not in "fc" or x.size == 0:
        return
    finite = np.isfinite(x)
    if finite.all():
        return
    nan = int(np.count_nonzero(np.isnan(x)))
    inf = int(x.size - np.count_nonzero(finite)) - nan
    counts = " and ".join(p for p in (f"{nan:,} NaN" if nan else "", f"{inf:,} inf" if inf else "") if p)
    first = int(np.argmin(finite.reshape(len(x), -1).all(axis=1))) if x.ndim > 1 else int(np.argmin(finite))
    raise DataError(
        f"{_at(source)}{counts} {what} in the samples (the first in sample {first}): edgekit does not feed "
        "non-finite values to a model; fix or drop those samples"
    )


def check_finite(samples: np.ndarray, source: str | None = None) -> None:
    """Samples must be numbers and finite (no NaN/inf)."""
    x = np.asarray(samples)
    if x.dtype.kind not in "biufc":
        raise DataError(f"{_at(source)}the samples have dtype {x.dtype}; give a numeric array (e.g. float32 or uint8)")
    _nonfinite(x, "values", source)


def check_pixels(images: np.ndarray, pre: Preprocess, *, source: str | None = None) -> None:
    """Raw samples must be 8-bit pixels when `pre` maps pixels (:func:`expects_pixels`).

    Accepted: uint8, or integers / whole floats within 0..255. Refused: NaN/inf, integers
    outside 0..255 (e.g. 12-bit images in uint16), float images in [0, 1] or [−1, 1] (already
    scaled), fractional floats. Samples that are not pixels are only checked to be finite.
    """
    x = np.asarray(images)
    if not expects_pixels(pre):
        check_finite(x, source)
        return
    if x.dtype == np.uint8 or x.size == 0:
        return
    kind = x.dtype.kind
    if kind not in "biuf":
        raise DataError(
            f"{_at(source)}the samples have dtype {x.dtype}; edgekit takes 8-bit pixels 0..255: give uint8 images"
        )
    real = "" if is_identity(pre) else (
        " or, if they are already the model's real input values, pass --pixel-scale 1 (and --pixel-offset 0)"
    )
    if kind == "b":
        raise DataError(
            f"{_at(source)}boolean images; edgekit takes 8-bit pixels 0..255: convert them "
            "(e.g. x.astype(np.uint8) * 255)"
        )
    if kind in "iu":
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise DataError(
                f"{_at(source)}{x.dtype} images with values {_range_text(low, high)}: edgekit takes 8-bit pixels "
                f"0..255; convert them to uint8 (e.g. a 12-bit image: (x >> 4).astype(np.uint8)){real}"
            )
        return
    _nonfinite(x, "pixels", source)
    low, high = float(x.min()), float(x.max())
    if high <= 1.0 and low >= -1.0:
        shown = "[0, 1]" if low >= 0.0 else f"[{low:.3g}, {high:.3g}]"
        raise DataError(
            f"{_at(source)}float images in {shown} look already scaled, but the model's preprocessing takes pixels "
            f"0..255 ({_mapping_text(pre)}): give uint8 images (e.g. np.rint(x * 255).astype(np.uint8)){real}"
        )
    if low < 0.0 or high > 255.0:
        raise DataError(
            f"{_at(source)}float images with values {_range_text(low, high)}: edgekit takes 8-bit pixels 0..255; "
            f"convert them to uint8 first{real}"
        )
    flat = x.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        fractional = part != np.rint(part)
        if fractional.any():
            index = start + int(np.argmax(fractional))
            sample = index // max(1, flat.size // len(x)) if x.ndim > 1 else index
            raise DataError(
                f"{_at(source)}float images with fractional values (e.g. {float(flat[index]):.4g} in sample {sample}) "
                "where the preprocessing takes whole 8-bit pixels 0..255: give the original uint8 images "
                "(or round them: np.rint(x).astype(np.uint8))"
            )


def _range_text(low: float, high: float) -> str:
    if low >= 0:
        return f"up to {high:g}"
    if high <= 255:
        return f"down to {low:g}"
    return f"from {low:g} to {high:g}"


def _mapping_text(pre: Preprocess) -> str:
    return f"real = pixel·{_number_text(pre.scale)} + {_number_text(pre.offset)}"


def _number_text(value: float | Sequence[float]) -> str:
    values = _values(value)
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def check_image_shape(images: np.ndarray, pre: Preprocess, *, source: str | None = None) -> None:
    """Raw images must have the model's H×W×C unless `pre` asks for the resize / conversion.

    Raw images are channels-last, N×H×W×C (or N×H×W for one channel), also for a model that
    takes NCHW (the preprocessing transposes them). Channels-first data (N×C×H×W) and a single
    image without its batch axis are recognised and named.
    """
    if not pre.is_image:
        return
    x = np.asarray(images)
    height, width, channels = _model_hwc(pre)
    model = _fmt_shape((height, width, channels))
    if x.ndim == 3 and tuple(x.shape) == (height, width, channels):
        raise DataError(
            f"{_at(source)}the samples have shape {_fmt_shape(x.shape)}: that is one {model} image without "
            "the batch axis; give N×H×W×C images (e.g. x[None] for one image)"
        )
    if x.ndim not in (3, 4):
        raise DataError(
            f"{_at(source)}the samples have shape {_fmt_shape(x.shape)} but the model takes images {model}: "
            f"give N×{model} images (channels last)"
        )
    raw = (*x.shape[1:], 1) if x.ndim == 3 else tuple(x.shape[1:])
    if x.ndim == 4 and _looks_channels_first(raw, (height, width, channels), pre):
        raise DataError(
            f"{_at(source)}the samples look channels-first (N×{_fmt_shape(raw)}); the model takes channels-last "
            f"N×{model}: transpose them with x.transpose(0, 2, 3, 1)"
        )
    size_ok = raw[:2] == (height, width) or pre.resize is not None
    channels_ok = (
        raw[2] == channels
        or (raw[2] == 3 and channels == 1 and pre.grayscale)
        or (raw[2] == 1 and channels == 3 and pre.to_rgb)
    )
    if size_ok and channels_ok:
        return
    todo = []
    if not size_ok:
        todo.append(f"resize them to {height}×{width}")
    if not channels_ok:
        kind = {1: "greyscale (1 channel)", 3: "RGB (3 channels)"}.get(channels, f"{channels} channels")
        todo.append(f"convert them to {kind}")
    raise DataError(
        f"{_at(source)}images are {_fmt_shape(raw)} but the model takes {model}: {' and '.join(todo)} first "
        "(or quantize the model with preprocessing that does)"
    )


def _looks_channels_first(raw: tuple[int, ...], model: tuple[int, int, int], pre: Preprocess) -> bool:
    """N×C×H×W data: C (1 or 3) first, the last axis no channel count, or a permutation of the model's H×W×C."""
    if raw[0] not in (1, 3) or raw == model:
        return False
    if sorted(raw) == sorted(model) and raw[0] == model[2]:
        return True
    return raw[2] not in (1, 3)


def check_pixel_transform(
    scale: float | Sequence[float], offset: float | Sequence[float], channels: int | None
) -> None:
    """``real = pixel·scale + offset``: finite, non-zero scales; finite offsets; 1 or `channels` values each."""
    for name, value, option in (("scale", scale, "--pixel-scale"), ("offset", offset, "--pixel-offset")):
        values = _values(value)
        if len(values) == 0:
            raise DataError(f"pixel {name} has no values; give one value ({option} S) or one per channel")
        bad = [v for v in values if not math.isfinite(v) or (name == "scale" and v == 0.0)]
        if bad:
            need = "a finite, non-zero number" if name == "scale" else "a finite number"
            example = " (e.g. 0.00392 = 1/255 maps pixels 0..255 onto 0..1)" if name == "scale" else ""
            raise DataError(
                f"pixel {name} {_number_text(values)} is not valid: real = pixel·scale + offset needs {need} "
                f"for each value{example}; fix {option}"
            )
        if len(values) > 1 and channels is not None and len(values) != channels:
            raise DataError(
                f"pixel {name} has {len(values)} values but the model's input has {channels} channels: give one "
                f"value or {channels} (one per channel), e.g. {option} "
                + ",".join([f"{values[0]:g}"] * channels)
            )


def check_labels(labels: np.ndarray | Sequence[int] | None, num_classes: int, source: str | None = None) -> None:
    """Labels must be class indices 0..num_classes−1 (`num_classes`: the model's output size).

    A single output (sigmoid) scores two classes, 0 and 1.
    """
    if labels is None:
        return
    array = np.asarray(labels)
    if array.size == 0:
        return
    if array.dtype.kind not in "biuf":
        raise DataError(f"{_at(source)}labels have dtype {array.dtype}; give integer class indices")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise DataError(f"{_at(source)}labels hold NaN/inf values; give integer class indices")
    classes = 2 if num_classes == 1 else int(num_classes)
    low, high = array.min().item(), array.max().item()
    if low < 0:
        raise DataError(
            f"{_at(source)}labels go down to {low:g}; class indices are 0..{classes - 1}: check the label file"
        )
    if high >= classes:
        outputs = f"{num_classes} output{'s' if num_classes != 1 else ''}"
        raise DataError(
            f"{_at(source)}labels go up to {high:g} but the model has {outputs} (classes 0..{classes - 1}): "
            "check the label file (or that this is the model the labels belong to)"
        )


def class_names_mismatch(class_names: Sequence[str] | None, num_classes: int, source: str | None = None) -> str | None:
    """A warning text when the dataset names a different number of classes than the model has outputs."""
    if class_names is None:
        return None
    classes = 2 if num_classes == 1 else int(num_classes)
    if len(class_names) == classes:
        return None
    return (
        f"{source or 'the data'} names {len(class_names)} classes but the model has {num_classes} "
        f"output{'s' if num_classes != 1 else ''}: the per-class names in this report may be wrong"
    )


def check_not_empty(n: int, source: str) -> None:
    """A dataset must hold at least one sample."""
    if int(n) <= 0:
        raise DataError(f"{source} holds no samples; give a dataset with at least one sample")
