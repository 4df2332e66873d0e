"""CIFAR-10 zoo architectures, written with plain torch ops only.

Every model takes a float NCHW batch (preprocessed as its :class:`~edgekit.zoo.registry.ZooEntry`
describes) and returns N×10 logits. Only ops the edgekit PyTorch front end imports are used:
Conv2d (incl. depthwise), BatchNorm2d, Linear, ReLU/ReLU6/SiLU/GELU, pooling, add, cat,
flatten/reshape/permute, LayerNorm, softmax and matmul. Attention is written out with
Linear + matmul + softmax (:class:`MatMul` is a module so that MAC-counting hooks see it).
"""

from __future__ import annotations

import torch
from torch import nn

NUM_CLASSES = 10


class MatMul(nn.Module):
    """``a @ b`` as a module (no parameters), so forward hooks can count its MACs."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


# --------------------------------------------------------------------------- ResNet-8


class _ResBlock(nn.Module):
    """MLPerf Tiny ResNet-8 stack: conv3×3(s)-BN-ReLU-conv3×3-BN, + shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        # MLPerf: the projection shortcut is a plain 1×1 conv (no BN) when the shape changes.
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, 0) if (stride != 1 or cin != cout) else None
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        s = x if self.shortcut is None else self.shortcut(x)
        return self.relu2(y + s)


class ResNet8(nn.Module):
    """MLPerf Tiny image-classification ResNet-8 (CIFAR-10, 32×32×3, 78,666 parameters)."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.stack1 = _ResBlock(16, 16, 1)
        self.stack2 = _ResBlock(16, 32, 2)
        self.stack3 = _ResBlock(32, 64, 2)
        self.pool = nn.AvgPool2d(8)  # Keras AveragePooling2D(pool_size=8) on the 8×8 map
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet8() -> ResNet8:
    return ResNet8()


# --------------------------------------------------------------------------- MobileNetV2


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU6):
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand (ReLU6) → depthwise 3×3 (ReLU6) → 1×1 linear project (+ residual)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, act: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, 1, act=act))
        layers.append(_conv_bn(hidden, hidden, 3, stride, groups=hidden, act=act))
        layers.append(_conv_bn(hidden, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


# (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper's table.
MBV2_64_CONFIG: tuple[tuple[int, int, int, int], ...] = (
    (1, 8, 1, 1),  # 32×32
    (4, 16, 2, 2),  # 16×16
    (4, 24, 2, 2),  # 8×8
    (4, 40, 2, 2),  # 4×4
    (4, 64, 1, 1),  # 4×4
)


class MobileNetV2(nn.Module):
    """MobileNetV2-style network: stride-2 stem, inverted-residual stages, 1×1 head conv, pool, FC."""

    def __init__(
        self,
        config: tuple[tuple[int, int, int, int], ...] = MBV2_64_CONFIG,
        stem: int = 16,
        head: int = 256,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, stem, 3, 2)]
        cin = stem
        for t, c, n, s in config:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn(cin, head, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.fc(self.dropout(x))


def mobilenetv2_64() -> MobileNetV2:
    """MobileNetV2 (width ≈ 0.35 of the paper's, 11 blocks) for 64×64×3 input."""
    return MobileNetV2()


class MCUNet128(MobileNetV2):
    """MCUNet-like: :class:`MobileNetV2` at 4× the resolution of its 32×32 stem output.

    The stem becomes conv3×3 stride 2 (BN, ReLU6) → depthwise 3×3 stride 2 (BN, ReLU6), so a
    128×128×3 input reaches the same 32×32×``stem`` map as MobileNetV2's stride-2 stem does from
    64×64×3; every later layer (``features.1`` on, ``fc``) is MobileNetV2's, with the same names
    and shapes. The 64×64×``stem`` map after the first conv is the layer-by-layer memory peak;
    the rest of the network is small (a fit for patch-based inference of the first stage).
    """

    def __init__(self, stem: int = 16, **kwargs) -> None:
        super().__init__(stem=stem, **kwargs)
        self.features[0] = nn.Sequential(_conv_bn(3, stem, 3, 2), _conv_bn(stem, stem, 3, 2, groups=stem))


def mcunet_128() -> MCUNet128:
    """MCUNet-like MobileNetV2 for 128×128×3 input (CIFAR-10 upsampled ×4)."""
    return MCUNet128()


# --------------------------------------------------------------------------- transformer parts


class Attention(nn.Module):
    """Multi-head self-attention from explicit Linear / reshape / matmul / softmax."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.qk = MatMul()
        self.softmax = nn.Softmax(dim=-1)
        self.av = MatMul()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each B×H×N×D
        attn = self.softmax(self.qk(q * self.scale, k.transpose(-2, -1)))
        y = self.av(attn, v).permute(0, 2, 1, 3).reshape(b, n, c)
        return self.proj(y)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer encoder block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, act: type[nn.Module]) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# --------------------------------------------------------------------------- MobileViT


class MobileViTBlock(nn.Module):
    """MobileViT block: local 3×3 + 1×1 convs → unfold into p×p patches → transformer over the
    patches at each of the p·p pixel positions → fold back → 1×1 conv → concat with the input →
    3×3 fusion conv."""

    def __init__(self, channels: int, dim: int, depth: int, heads: int, patch: int = 2, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.patch = patch
        self.local = nn.Sequential(
            _conv_bn(channels, channels, 3, act=nn.SiLU),
            nn.Conv2d(channels, dim, 1, bias=False),
        )
        self.transformer = nn.Sequential(*[TransformerBlock(dim, heads, mlp_ratio, nn.SiLU) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.project = _conv_bn(dim, channels, 1, act=nn.SiLU)
        self.fuse = _conv_bn(2 * channels, channels, 3, act=nn.SiLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.local(x)
        b, d, h, w = y.shape
        p = self.patch
        nh, nw = h // p, w // p
        # unfold: B×D×(nh·p)×(nw·p) → (B·p·p)×(nh·nw)×D
        t = y.reshape(b, d, nh, p, nw, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, nh * nw, d)
        t = self.norm(self.transformer(t))
        # fold: back to B×D×H×W
        y = t.reshape(b, p, p, nh, nw, d).permute(0, 5, 3, 1, 4, 2).reshape(b, d, h, w)
        y = self.project(y)
        return self.fuse(torch.cat([x, y], dim=1))


class MobileViT(nn.Module):
    """MobileViT-xxs-style hybrid for 32×32 input: stem, MV2 blocks (SiLU), two MobileViT stages."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        act = nn.SiLU
        self.features = nn.Sequential(
            _conv_bn(3, 16, 3, 1, act=act),  # 32×32
            InvertedResidual(16, 24, 2, 2, act),  # 16×16
            InvertedResidual(24, 24, 1, 2, act),
            InvertedResidual(24, 32, 2, 2, act),  # 8×8
            MobileViTBlock(32, 48, depth=2, heads=2),
            InvertedResidual(32, 48, 2, 2, act),  # 4×4
            MobileViTBlock(48, 64, depth=2, heads=2),
            _conv_bn(48, 192, 1, act=act),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(192, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.fc(self.dropout(x))


def mobilevit_xxs() -> MobileViT:
    return MobileViT()


# --------------------------------------------------------------------------- DeiT


class DeiT(nn.Module):
    """DeiT-style ViT: conv patch embedding, cls token, learned position embedding,
    pre-norm blocks with GELU MLPs, final LayerNorm, linear head on the cls token."""

    def __init__(
        self,
        image: int = 32,
        patch: int = 4,
        dim: int = 64,
        depth: int = 6,
        heads: int = 2,
        mlp_ratio: float = 2.0,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        tokens = (image // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, heads, mlp_ratio, nn.GELU) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # B×D×8×8
        b, d = x.shape[0], x.shape[1]
        x = x.flatten(2).permute(0, 2, 1)  # B×64×D
        x = torch.cat([self.cls_token.expand(b, 1, d), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def deit_tiny() -> DeiT:
    return DeiT()


# --------------------------------------------------------------------------- EfficientFormer


class Meta4D(nn.Module):
    """EfficientFormer's 4-D MetaBlock: x + (avgpool3×3(x) − x) (the pooling token mixer), then
    x + conv1×1(GELU(BN(conv1×1(x)))) (the conv MLP, BatchNorm folded at conversion)."""

    def __init__(self, dim: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)  # TFLite's SAME average pooling
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + (self.pool(x) - x)
        return x + self.bn2(self.fc2(self.act(self.bn1(self.fc1(x)))))


class EfficientFormer(nn.Module):
    """EfficientFormer-style hybrid (Li et al., 2022) for 32×32 input: a conv stem, two stages of
    4-D MetaBlocks (pooling mixer + conv MLP) with strided-conv downsampling, then the 4×4 map
    flattened to 16 tokens for 3-D MetaBlocks (pre-norm attention + MLP), LayerNorm, token mean,
    linear head."""

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 96), depth4d: int = 2, depth3d: int = 2,
                 heads: int = 2, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Sequential(_conv_bn(3, 16, 3, 1, act=nn.ReLU), _conv_bn(16, w1, 3, 2, act=nn.ReLU))  # 16×16
        self.stage1 = nn.Sequential(*[Meta4D(w1) for _ in range(depth4d)])
        self.down1 = _conv_bn(w1, w2, 3, 2, act=None)  # 8×8
        self.stage2 = nn.Sequential(*[Meta4D(w2) for _ in range(depth4d)])
        self.down2 = _conv_bn(w2, w3, 3, 2, act=None)  # 4×4
        self.blocks = nn.Sequential(*[TransformerBlock(w3, heads, 2.0, nn.GELU) for _ in range(depth3d)])
        self.norm = nn.LayerNorm(w3)
        self.head = nn.Linear(w3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down2(self.stage2(self.down1(self.stage1(self.stem(x)))))
        t = x.flatten(2).permute(0, 2, 1)  # B×16×C tokens
        t = self.norm(self.blocks(t))
        return self.head(t.mean(dim=1))


def efficientformer_xs() -> EfficientFormer:
    return EfficientFormer()
