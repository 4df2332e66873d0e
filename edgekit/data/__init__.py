"""Input data for validation: datasets on disk, preprocessing, random inputs, plausibility checks.

- :func:`load_dataset` reads an ``.npz``/``.npy`` file, the CIFAR-10 JPEG npz format or a
  folder of class sub-folders of images into a :class:`Dataset` of raw samples.
- :class:`Preprocess` turns raw samples into model-ready inputs (resize and channel
  conversion when asked for, pixel scaling, input quantization); it is part of a model's
  deployment description and round-trips through :meth:`Preprocess.to_dict`;
  :func:`describe` says it in one line.
- :mod:`edgekit.data.checks`: implausible data (not 8-bit pixels, wrong image size, labels
  beyond the model's outputs, an empty dataset, a bad pixel scale) is a :class:`DataError`.
- :func:`random_inputs` makes seeded random inputs when no data is given.
"""

from __future__ import annotations

from edgekit.data.checks import (
    check_finite,
    check_image_shape,
    check_labels,
    check_not_empty,
    check_pixel_transform,
    check_pixels,
    class_names_mismatch,
    expects_pixels,
)
from edgekit.data.load import IMAGE_SUFFIXES, Dataset, balanced_indices, load_dataset
from edgekit.data.preprocess import Preprocess, describe, quantize
from edgekit.data.random import random_inputs

__all__ = [
    "IMAGE_SUFFIXES",
    "Dataset",
    "Preprocess",
    "balanced_indices",
    "check_finite",
    "check_image_shape",
    "check_labels",
    "check_not_empty",
    "check_pixel_transform",
    "check_pixels",
    "class_names_mismatch",
    "describe",
    "expects_pixels",
    "load_dataset",
    "quantize",
    "random_inputs",
]
