"""Preprocessing: raw samples → model-ready inputs, as part of a model's deployment description."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

from edgekit.data.checks import check_image_shape, check_pixel_transform, check_pixels, expects_pixels
from edgekit.errors import DataError

QUANTIZED_DTYPES = ("int8", "uint8", "int16")
FLOAT_DTYPES = ("float32",)
_VERSION = 1


def quantize(real: np.ndarray, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """Quantize as TFLite's QUANTIZE op does.

    ``q = clamp(round_half_away_from_zero(float32(x) / float32(scale)) + zero_point)``; the
    division is done in float32 and the rounding is exact (float64), like ``std::round``.
    """
    if dtype not in QUANTIZED_DTYPES:
        raise DataError(f"cannot quantize to {dtype!r}; use one of {list(QUANTIZED_DTYPES)}")
    ratio = (np.asarray(real, dtype=np.float32) / np.float32(scale)).astype(np.float64)
    rounded = np.sign(ratio) * np.floor(np.abs(ratio) + 0.5)
    info = np.iinfo(dtype)
    return np.clip(rounded + int(zero_point), info.min, info.max).astype(dtype)


@dataclass(frozen=True)
class Preprocess:
    """How raw samples become the model's input.

    Steps, in order: add a channel axis to N×H×W images; RGB→grey (`grayscale`) or
    grey→RGB (`to_rgb`) when the data's channels differ from the model's; bilinear resize
    to `resize` (H, W) when the sample size differs; NHWC→NCHW when `channels_first`;
    ``real = sample * scale + offset`` (per channel when tuples); then quantize with
    `input_scale`/`input_zero_point` for an integer `dtype`, or return float32.
    `input_shape` is the per-sample shape the model takes (no batch axis).

    The resize and the channel conversions happen only when asked for: images of another
    size or channel count are refused otherwise (:func:`edgekit.data.checks.check_image_shape`),
    as are raw samples that are not 8-bit pixels when the map takes pixels
    (:func:`edgekit.data.checks.check_pixels`).
    """

    input_shape: tuple[int, ...]
    dtype: str = "int8"
    input_scale: float | None = None
    input_zero_point: int = 0
    resize: tuple[int, int] | None = None
    grayscale: bool = False
    to_rgb: bool = False
    channels_first: bool = False
    scale: float | tuple[float, ...] = 1.0
    offset: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if self.resize is not None:
            object.__setattr__(self, "resize", (int(self.resize[0]), int(self.resize[1])))
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(float(v) for v in value))
        if self.dtype not in QUANTIZED_DTYPES + FLOAT_DTYPES:
            raise DataError(
                f"model input dtype {self.dtype!r} is not supported; use one of "
                f"{list(QUANTIZED_DTYPES + FLOAT_DTYPES)}"
            )
        if self.quantized and not (self.input_scale and self.input_scale > 0):
            raise DataError(
                f"a {self.dtype} model input needs a positive input scale, got {self.input_scale}; "
                "take it from the model's input quantization parameters"
            )
        if self.grayscale and self.to_rgb:
            raise DataError("preprocessing cannot convert to greyscale and to RGB at once; pick one")
        check_pixel_transform(self.scale, self.offset, self.channels)

    @property
    def quantized(self) -> bool:
        return self.dtype in QUANTIZED_DTYPES

    @property
    def is_image(self) -> bool:
        return _image_hw(self.input_shape, self.channels_first) is not None

    @property
    def channels(self) -> int | None:
        """The number of values a per-channel scale/offset needs: the image channels, else the last axis."""
        if self.is_image:
            return self.input_shape[0] if self.channels_first else self.input_shape[2]
        return self.input_shape[-1] if self.input_shape else None

    @classmethod
    def for_model(
        cls,
        input_shape: tuple[int, ...] | list[int],
        dtype: str,
        scale: float | None = None,
        zero_point: int = 0,
        *,
        pixels: bool = True,
    ) -> Preprocess:
        """The default preprocessing for a model input.

        With `pixels` (images 0..255), the pixel range is mapped linearly onto the real range
        the quantized input covers: int8 scale 1, zp −128 gives real = pixel and
        q = pixel − 128; scale 1/255, zp −128 gives real = pixel/255 and again
        q = pixel − 128. Float models get real = pixel/255. Without `pixels`, samples are
        taken to be real values already (scale 1, offset 0). Images are neither resized nor
        converted to another channel count: data of another size or channel count is an error
        (a model that wants the conversion records it in its preprocessing). A leading batch
        axis of 1 is dropped.
        """
        shape = tuple(int(d) for d in input_shape)
        if len(shape) >= 2 and shape[0] == 1:
            shape = shape[1:]
        channels_first = len(shape) == 3 and shape[0] in (1, 3) and shape[2] not in (1, 3)
        pre_scale, pre_offset = 1.0, 0.0
        if pixels and dtype in QUANTIZED_DTYPES:
            if not (scale and scale > 0):
                raise DataError(f"a {dtype} model input needs a positive input scale, got {scale}")
            info = np.iinfo(dtype)
            low = (info.min - zero_point) * scale
            high = (info.max - zero_point) * scale
            pre_scale, pre_offset = (high - low) / 255.0, low
        elif pixels:
            pre_scale = 1.0 / 255.0
        return cls(
            input_shape=shape,
            dtype=dtype,
            input_scale=float(scale) if scale is not None else None,
            input_zero_point=int(zero_point),
            resize=None,
            grayscale=False,
            to_rgb=False,
            channels_first=channels_first,
            scale=pre_scale,
            offset=pre_offset,
        )

    def apply(self, samples: np.ndarray, *, source: str | None = None) -> np.ndarray:
        """Model-ready inputs (N × input_shape) from a batch of N raw samples.

        Implausible samples are a :class:`DataError` (`source` names them in the message):
        see :func:`~edgekit.data.checks.check_pixels` and :func:`~edgekit.data.checks.check_image_shape`.
        """
        x = np.asarray(samples)
        check_pixel_transform(self.scale, self.offset, self.channels)
        check_pixels(x, self, source=source)
        if self.is_image:
            check_image_shape(x, self, source=source)
            x = self._image_steps(x)
        shape = tuple(x.shape[1:])
        if shape != self.input_shape:
            raise DataError(
                f"samples have shape {shape} after preprocessing but the model takes "
                f"{self.input_shape}; give data of that shape or adjust the preprocessing"
            )
        real = x.astype(np.float32) * _per_channel(self.scale, x, self.channels_first)
        real = real + _per_channel(self.offset, x, self.channels_first)
        if not self.quantized:
            return real.astype(np.float32)
        assert self.input_scale is not None
        return quantize(real, self.input_scale, self.input_zero_point, self.dtype)

    def _image_steps(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise DataError(
                f"the model takes images {self.input_shape} but the samples have shape "
                f"{tuple(x.shape)}; give N×H×W×C images"
            )
        if self.grayscale and x.shape[3] == 3:
            x = _luminance(x)
        elif self.to_rgb and x.shape[3] == 1:
            x = np.repeat(x, 3, axis=3)
        if self.resize is not None and tuple(x.shape[1:3]) != self.resize:
            x = _resize(x, self.resize)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self.channels_first else x

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (stored with generated models)."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["resize"] = list(self.resize) if self.resize else None
        for name in ("scale", "offset"):
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
        return {"version": _VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Rebuild from :meth:`to_dict` output."""
        data = dict(data)
        version = data.pop("version", _VERSION)
        if version != _VERSION:
            raise DataError(
                f"preprocessing description version {version} is not supported (this edgekit "
                f"reads version {_VERSION}); regenerate the model with this edgekit"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError(f"unknown preprocessing keys {unknown}; known keys are {sorted(known)}")
        if "input_shape" not in data:
            raise DataError("preprocessing description lacks 'input_shape'")
        for name in ("scale", "offset"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise DataError(f"malformed preprocessing description: {exc}") from exc


def describe(pre: Preprocess, recorded: bool) -> str:
    """One line saying how raw samples become the model's input, for reports.

    E.g. ``real = pixel·0.00392 + 0 → int8 (scale 0.00392, zero point -128), recorded in the
    model``; `recorded` says whether the model records it or it is edgekit's default.
    """
    what = "pixel" if expects_pixels(pre) else "sample"
    text = f"real = {what}·{_number_text(pre.scale)} + {_number_text(pre.offset)}"
    if pre.quantized:
        text += f" → {pre.dtype} (scale {pre.input_scale:.3g}, zero point {pre.input_zero_point})"
    else:
        text += " → float32"
    steps = []
    if pre.grayscale:
        steps.append("RGB→grey if RGB")
    if pre.to_rgb:
        steps.append("grey→RGB if grey")
    if pre.resize is not None:
        steps.append(f"resize to {pre.resize[0]}×{pre.resize[1]}")
    if pre.channels_first:
        steps.append("NHWC→NCHW")
    if steps:
        text += f" after {', '.join(steps)}"
    origin = "recorded in the model" if recorded else "edgekit's default (the model records no preprocessing)"
    return f"{text}, {origin}"


def _number_text(value: float | tuple[float, ...]) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.3g}" for v in value) + ")"
    return f"{value:.3g}"


def _image_hw(shape: tuple[int, ...], channels_first: bool) -> tuple[int, int] | None:
    if len(shape) != 3:
        return None
    channels, hw = (shape[0], shape[1:]) if channels_first else (shape[2], shape[:2])
    return (hw[0], hw[1]) if channels in (1, 3) else None


def _per_channel(value: float | tuple[float, ...], x: np.ndarray, channels_first: bool) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 0:
        return array
    if channels_first and x.ndim == 4:
        return array.reshape(-1, 1, 1)
    return array


def _luminance(x: np.ndarray) -> np.ndarray:
    """RGB → grey with ITU-R 601 weights; uint8 matches Pillow's convert("L") exactly."""
    if x.dtype == np.uint8:
        r, g, b = (x[..., i].astype(np.uint32) for i in range(3))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]
    weights = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    return (x.astype(np.float32) @ weights)[..., None]


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of N×H×W×C images to `size` (H, W) with Pillow."""
    height, width = size
    if x.dtype == np.uint8 and x.shape[3] in (1, 3):
        grey = x.shape[3] == 1
        out = [
            np.asarray(
                Image.fromarray(img[..., 0] if grey else img).resize(
                    (width, height), Image.Resampling.BILINEAR
                )
            )
            for img in np.ascontiguousarray(x)
        ]
        return np.stack(out).reshape(len(x), height, width, x.shape[3])
    planes = np.empty((len(x), height, width, x.shape[3]), dtype=np.float32)
    for n, img in enumerate(x.astype(np.float32)):
        for c in range(x.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(img[..., c])).resize(
                (width, height), Image.Resampling.BILINEAR
            )
            planes[n, :, :, c] = np.asarray(plane)
    return planes
