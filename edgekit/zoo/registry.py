"""The zoo registry: how each model is built, fed and loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekit.data.preprocess import Preprocess
from edgekit.errors import EdgekitError
from edgekit.zoo import models

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# CIFAR-10 training-set channel statistics (RGB, on the 0..1 scale).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model.

    Input: uint8 N×32×32×3 CIFAR images → bilinear resize (Pillow) to `input_size` when it
    differs → NCHW → ``(x / 255 − mean) / std`` per channel, float32.
    """

    name: str
    constructor: Callable[[], nn.Module]
    input_size: tuple[int, int]
    params: int
    description: str
    mean: tuple[float, float, float] = CIFAR_MEAN
    std: tuple[float, float, float] = CIFAR_STD

    @property
    def weights(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.pt"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, *self.input_size)

    def preprocess(self, channels_first: bool = True) -> Preprocess:
        """The deployment preprocessing (edgekit's :class:`Preprocess`) for this model.

        `channels_first` gives the torch module's NCHW input; False gives NHWC, the input
        layout of the graph the PyTorch front end converts the module to.
        """
        shape = self.input_shape if channels_first else (*self.input_size, 3)
        return Preprocess(
            input_shape=shape,
            dtype="float32",
            resize=self.input_size,
            to_rgb=True,
            channels_first=channels_first,
            scale=tuple(1.0 / (255.0 * s) for s in self.std),
            offset=tuple(-m / s for m, s in zip(self.mean, self.std, strict=True)),
        )

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """Float model input from N×H×W×3 uint8 images."""
        return torch.from_numpy(self.preprocess().apply(images))

    def build(self) -> nn.Module:
        return self.constructor()


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        ZooEntry("resnet8", models.resnet8, (32, 32), 78_186, "MLPerf Tiny ResNet-8 (3 residual stacks 16/32/64)"),
        ZooEntry(
            "mobilenetv2_64",
            models.mobilenetv2_64,
            (64, 64),
            75_002,
            "MobileNetV2-style, 64×64 input (CIFAR upsampled ×2), stride-2 stem, 11 inverted residuals",
        ),
        ZooEntry(
            "mcunet_128",
            models.mcunet_128,
            (128, 128),
            75_178,
            "MCUNet-like, 128×128 input (CIFAR upsampled ×4), conv s2 + depthwise s2 stem, then mobilenetv2_64's body",
        ),
        ZooEntry(
            "deit_tiny", models.deit_tiny, (32, 32), 208_970, "DeiT-style ViT, patch 4, dim 64, 6 blocks, 2 heads"
        ),
        ZooEntry(
            "mobilevit_xxs",
            models.mobilevit_xxs,
            (32, 32),
            230_778,
            "MobileViT-xxs-style hybrid: MV2 blocks + 2 MobileViT blocks (d 48/64, 2 layers each)",
        ),
        ZooEntry(
            "efficientformer_xs",
            models.efficientformer_xs,
            (32, 32),
            272_602,
            "EfficientFormer-style hybrid: pooling-mixer MetaBlocks (32/64 ch) + 2 attention MetaBlocks (d 96)",
        ),
    )
}


def get_entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise EdgekitError(f"no zoo model named {name!r}; the zoo has {sorted(ZOO)}") from None


def load_zoo_model(name: str) -> tuple[nn.Module, ZooEntry]:
    """The zoo model `name` with its committed float weights, in eval mode, and its entry."""
    entry = get_entry(name)
    if not entry.weights.exists():
        raise EdgekitError(
            f"zoo model {name!r} has no trained weights at {entry.weights}; train it with bench/zoo/train.py"
        )
    model = entry.build()
    state = torch.load(entry.weights, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), entry


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics not included)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one inference, from forward hooks on Conv2d, Linear and MatMul."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        per_sample = output.numel() // output.shape[0]
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += per_sample * (module.in_channels // module.groups) * k
        elif isinstance(module, nn.Linear):
            total += per_sample * module.in_features
        elif isinstance(module, models.MatMul):
            total += per_sample * inputs[0].shape[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def save_for_frontend(name: str, path: Path | str) -> Path:
    """Write zoo model `name` (committed weights) as the PyTorch front end's checkpoint form
    (``{"edgekit_torch": 1, "module", "arch", "state_dict", "input_shape", "preprocess"}``), the
    file every command that reads models takes (``edgekit zoo export``). The pickled ``module``
    loads by itself (its classes live in :mod:`edgekit.zoo.models`); ``arch`` + ``state_dict``
    rebuild it from the zoo's table when :mod:`edgekit.zoo` is imported."""
    model, entry = load_zoo_model(name)
    path = Path(path)
    torch.save(
        {
            "edgekit_torch": 1,
            "module": model,
            "arch": name,
            "kwargs": {},
            "state_dict": model.state_dict(),
            "input_shape": [1, *entry.input_shape],
            "preprocess": entry.preprocess().to_dict(),
        },
        path,
    )
    return path
