"""Input data for validation: datasets on disk, preprocessing, random inputs.

- :func:`load_dataset` reads an ``.npz``/``.npy`` file, the CIFAR-10 JPEG npz format or a
  folder of class sub-folders of images into a :class:`Dataset` of raw samples.
- :class:`Preprocess` turns raw samples into model-ready inputs (resize, channel
  conversion, pixel scaling, input quantization); it is part of a model's deployment
  description and round-trips through :meth:`Preprocess.to_dict`.
- :func:`random_inputs` makes seeded random inputs when no data is given.
"""

from __future__ import annotations

from edgekit.data.load import IMAGE_SUFFIXES, Dataset, balanced_indices, load_dataset
from edgekit.data.preprocess import Preprocess, quantize
from edgekit.data.random import random_inputs

__all__ = [
    "IMAGE_SUFFIXES",
    "Dataset",
    "Preprocess",
    "balanced_indices",
    "load_dataset",
    "quantize",
    "random_inputs",
]
