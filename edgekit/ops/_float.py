"""Helpers of the op modules' float semantics (``OpDef.run_float``), run in torch.

The float executor (:mod:`edgekit.quant.float_exec`) calls ``run_float(ex, node, args)`` with
torch tensors; ``ex`` is a :class:`FloatContext`. Activations are NHWC as in TFLite, the first
axis is the batch. torch is imported lazily: edgekit runs without it until a float model is
executed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node
from edgekit.numerics import same_pads

if TYPE_CHECKING:
    import torch


class FloatContext(Protocol):
    """What an op's float semantics may ask of the executor running it."""

    graph: Graph

    def const(self, tid: int) -> torch.Tensor:
        """Constant tensor `tid` on the device (integer constants dequantized)."""

    def prepared(self, tid: int, kind: str, fn: Any) -> torch.Tensor:
        """`fn(const(tid))`, computed once per executor (e.g. a weight in torch's layout)."""

    def const_ints(self, tid: int) -> list[int]:
        """The values of an integer constant operand (shapes, axes, paddings)."""

    def out_shape(self, node: Node, x: torch.Tensor, k: int = 0) -> tuple[int, ...]:
        """The IR shape of output `k` for the running batch size."""


def act(x: torch.Tensor, name: str | None) -> torch.Tensor:
    """A TFLite fused activation applied in float."""
    import torch

    if name in (None, "NONE"):
        return x
    if name == "RELU":
        return torch.relu(x)
    if name == "RELU6":
        return torch.clamp(x, 0.0, 6.0)
    if name == "RELU_N1_TO_1":
        return torch.clamp(x, -1.0, 1.0)
    if name == "TANH":
        return torch.tanh(x)
    if name == "SIGN_BIT":
        return torch.sign(x)
    raise UnsupportedOpError(f"fused activation {name} is not supported by the float executor")


def fused(node: Node, x: torch.Tensor) -> torch.Tensor:
    """`x` through the node's fused activation."""
    return act(x, node.attrs.get("fused_activation_function"))


def nchw_pad(x: torch.Tensor, node: Node, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
             value: float = 0.0) -> torch.Tensor:
    """Pad an NCHW tensor for TFLite SAME padding (no-op for VALID); a patch tile's explicit
    window (``explicit_window``: leading pads, output size) pads or crops to exactly what it reads."""
    import torch.nn.functional as F

    window = node.attrs.get("explicit_window")
    if window is not None:
        pad_h, pad_w, out_h, out_w = (int(v) for v in window)
        after_h = (out_h - 1) * sh + (kh - 1) * dh + 1 - x.shape[2] - pad_h
        after_w = (out_w - 1) * sw + (kw - 1) * dw + 1 - x.shape[3] - pad_w
        return F.pad(x, (pad_w, after_w, pad_h, after_h), value=value)  # negative: crops
    if node.attrs.get("padding", "SAME") != "SAME":
        return x
    ph = same_pads(x.shape[2], kh, sh, dh)
    pw = same_pads(x.shape[3], kw, sw, dw)
    if ph == (0, 0) and pw == (0, 0):
        return x
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)


def conv_strides(node: Node) -> tuple[int, int, int, int]:
    """(stride_h, stride_w, dilation_h, dilation_w) of a convolution node."""
    return (int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1)),
            int(node.attrs.get("dilation_h_factor", 1)), int(node.attrs.get("dilation_w_factor", 1)))


def pool_window(node: Node) -> tuple[int, int, int, int]:
    """(filter_h, filter_w, stride_h, stride_w) of a pooling node."""
    return (int(node.attrs.get("filter_height", 1)), int(node.attrs.get("filter_width", 1)),
            int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1)))


def elementwise(fn: Any) -> Any:
    """``run_float`` of an op that maps its first input elementwise with ``fn(x)``."""

    def run(ex: FloatContext, node: Node, args: list) -> list:
        return [fn(args[0])]

    return run


def run_reshape(ex: FloatContext, node: Node, args: list) -> list:
    """``run_float`` of the views (RESHAPE, SQUEEZE, EXPAND_DIMS): the IR output shape."""
    return [args[0].reshape(ex.out_shape(node, args[0]))]
