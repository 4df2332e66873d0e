"""PyTorch front end: converted graphs compute what the torch modules compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from edgekit.errors import ModelFormatError, UnsupportedOpError  # noqa: E402
from edgekit.frontends.torch_fx import from_torch, load_torch_file, save_torch_file  # noqa: E402
from edgekit.quant.float_exec import FloatExecutor  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.dw = nn.Conv2d(c, 2 * c, 3, padding=1, groups=c)  # depthwise, multiplier 2
        self.pw = nn.Conv2d(2 * c, c, 1, groups=2)  # grouped
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        return x + self.act(self.pw(self.dw(y))) * 0.5


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6())
        self.block = _Block(8)
        self.pool = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.stem(x))
        x = torch.cat([x, F.silu(x)], 1)
        x = self.bn(F.avg_pool2d(self.pool(x), 1))
        return F.softmax(self.fc(self.gap(x).flatten(1)), -1)


class _ViT(nn.Module):
    """Patch embedding, nn.MultiheadAttention, hand-written attention, LayerNorm, GELU MLP."""

    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.pe = nn.Conv2d(3, d, 4, stride=4)
        self.pos = nn.Parameter(torch.randn(1, 64, d) * 0.1)
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, heads, batch_first=True)
        self.qkv = nn.Linear(d, 3 * d)
        self.heads = heads
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 64), nn.GELU(), nn.Linear(64, d))
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pe(x).flatten(2).transpose(1, 2) + self.pos
        y = self.ln1(x)
        x = x + self.att(y, y, y, need_weights=False)[0]
        b, n, c = x.shape
        qkv = self.qkv(x)
        q, k, v = (qkv[:, :, i * c:(i + 1) * c].reshape(b, n, self.heads, c // self.heads).transpose(1, 2)
                   for i in range(3))
        a = ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(-1)
        x = x + (a @ v).transpose(1, 2).reshape(b, n, c)
        x = x + F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.mlp(self.ln2(x))
        return self.head(x.mean(1))


def _randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _check(model: nn.Module, shape: tuple[int, ...]) -> set[str]:
    x = torch.randn(3, *shape[1:])
    graph = from_torch(model, x[:1])
    (ours,) = FloatExecutor(graph, "cpu").run(x.permute(0, 2, 3, 1).numpy())
    ref = model(x).detach().numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-4
    return {n.op for n in graph.nodes}


def test_cnn_matches_torch() -> None:
    ops = _check(_randomize_bn(_CNN()), (1, 3, 32, 32))
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH", "LOGISTIC", "CONCATENATION", "MAX_POOL_2D",
            "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX", "PAD"} <= ops
    assert "TRANSPOSE" not in ops  # NCHW handled by layout tracking, not by transposes


def test_batchnorm_after_conv_is_folded() -> None:
    model = _randomize_bn(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)))
    graph = from_torch(model, torch.zeros(1, 3, 8, 8))
    assert [n.op for n in graph.nodes] == ["CONV_2D"]


def test_vit_with_attention_matches_torch() -> None:
    ops = _check(_ViT().eval(), (1, 3, 32, 32))
    assert {"LAYER_NORM", "BATCH_MATMUL", "SOFTMAX", "GELU", "FULLY_CONNECTED", "MEAN", "STRIDED_SLICE"} <= ops


def test_flatten_into_linear_permutes_the_weights_instead_of_the_activations() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(2, 1, 6, 6)
    graph = from_torch(model, x[:1])
    assert "TRANSPOSE" not in {n.op for n in graph.nodes}
    (ours,) = FloatExecutor(graph, "cpu").run(x.permute(0, 2, 3, 1).numpy())
    assert np.abs(ours - model(x).detach().numpy()).max() < 1e-5


def test_unsupported_op_names_the_op_and_the_line() -> None:
    class Bad(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(x, 1)

    with pytest.raises(UnsupportedOpError, match=r"cumsum.*test_torch_frontend\.py.*line"):
        from_torch(Bad(), torch.zeros(1, 3, 4, 4))


def test_checkpoint_file_roundtrip(tmp_path: Path) -> None:
    model = _randomize_bn(_CNN())
    path = tmp_path / "cnn.pt"
    save_torch_file(path, model, (1, 3, 32, 32))
    graph, pre = load_torch_file(path)
    assert pre is None and graph.tensors[graph.inputs[0]].shape == (1, 32, 32, 3)
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ModelFormatError, match="input_shape"):
        load_torch_file(tmp_path / "bad.pt")


class _TimmStyle(nn.Module):
    """cls token (a parameter expanded to the batch), fused qkv split along a permuted axis,
    and a MobileViT-style unfold that folds patches into the batch axis."""

    def __init__(self, d: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.pe = nn.Conv2d(3, d, 2, 2)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d))
        self.qkv = nn.Linear(d, 3 * d)
        self.heads = heads
        self.head = nn.Linear(d, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pe(x)  # B×d×4×4
        b, d, h, w = x.shape
        u = x.reshape(b, d, h // 2, 2, w // 2, 2).permute(0, 3, 5, 2, 4, 1).reshape(b * 4, (h // 2) * (w // 2), d)
        u = u.softmax(-1).reshape(b, 4, h // 2, w // 2, d).mean(1)  # back to the batch axis: B×2×2×d
        t = torch.cat([self.cls_token.expand(b, 1, d), x.flatten(2).transpose(1, 2), u.flatten(1, 2)], dim=1)
        n = t.shape[1]
        qkv = self.qkv(t).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(-1)
        t = (a @ v).transpose(1, 2).reshape(b, n, d)
        return self.head(t[:, 0])


def test_timm_style_attention_cls_token_and_batch_folding() -> None:
    ops = _check(_TimmStyle().eval(), (1, 3, 8, 8))
    assert {"STRIDED_SLICE", "CONCATENATION", "BATCH_MATMUL"} <= ops


def test_functional_pad_unsqueeze_and_squeeze_match_torch() -> None:
    class PadNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.pad(x, (1, 2, 0, 1))  # W: 1 before, 2 after; H: 0, 1
            x = F.pad(self.conv(x), (0, 0, 0, 0, 1, 1))  # two zero channels around the four
            y = x.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, 6)
            return self.fc(y.squeeze(1)[:, 1:5]).unsqueeze(-1).squeeze(-1)

    ops = _check(PadNet().eval(), (1, 3, 7, 6))
    assert "PAD" in ops

    class Reflect(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.pad(x, (1, 1, 1, 1), mode="reflect")

    with pytest.raises(UnsupportedOpError, match="constant zero padding"):
        from_torch(Reflect(), torch.zeros(1, 3, 4, 4))


def test_matmul_by_a_constant_matrix_with_leading_ones_and_refusal_of_a_batch_of_matrices() -> None:
    class ByConst(nn.Module):
        def __init__(self, w: torch.Tensor) -> None:
            super().__init__()
            self.w = nn.Parameter(w)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(2).transpose(1, 2) @ self.w  # (B, HW, C) @ (1, C, 5)

    x = torch.randn(2, 3, 4, 4)
    model = ByConst(torch.randn(1, 3, 5)).eval()
    graph = from_torch(model, x[:1])
    (ours,) = FloatExecutor(graph, "cpu").run(x.permute(0, 2, 3, 1).numpy())
    assert np.abs(ours - model(x).detach().numpy()).max() < 1e-5
    with pytest.raises(UnsupportedOpError, match=r"constant of shape \[2, 3, 5\]"):
        from_torch(ByConst(torch.randn(2, 3, 5)).eval(), x[:1])
