"""CIFAR-10 model zoo: float PyTorch models with committed trained weights.

``load_zoo_model(name)`` returns the model in eval mode and its :class:`ZooEntry`, which says
how uint8 images become the model's float input (``entry.prepare(images)`` or, as edgekit's
deployment description, ``entry.preprocess()``). Training: ``bench/zoo/train.py``.
"""

from __future__ import annotations

from edgekit.frontends import torch_fx as _torch_fx
from edgekit.zoo.models import deit_tiny, efficientformer_xs, mcunet_128, mobilenetv2_64, mobilevit_xxs, resnet8
from edgekit.zoo.registry import (
    ZOO,
    ZooEntry,
    count_macs,
    count_params,
    get_entry,
    load_zoo_model,
    save_for_frontend,
)

# The PyTorch front end builds ``{"arch": name, "state_dict": ...}`` checkpoints from this table.
for _name, _entry in ZOO.items():
    _torch_fx.ZOO.setdefault(_name, _entry.constructor)

__all__ = [
    "ZOO",
    "ZooEntry",
    "count_macs",
    "count_params",
    "deit_tiny",
    "efficientformer_xs",
    "get_entry",
    "load_zoo_model",
    "mcunet_128",
    "mobilenetv2_64",
    "mobilevit_xxs",
    "resnet8",
    "save_for_frontend",
]
