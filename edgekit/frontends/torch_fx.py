"""PyTorch front end: an ``nn.Module`` and an example input → the float graph IR (torch.fx).

``from_torch(module, example_input)`` traces the module with :mod:`torch.fx` (modules of the
supported kinds are kept whole, everything else is traced through), propagates shapes with the
example input and converts node by node:

* Conv2d (plain, depthwise → DEPTHWISE_CONV_2D, grouped → CONV_2D with the filter depth of a
  group), with a following BatchNorm2d folded into it; other BatchNorms become MUL + ADD;
* Linear → FULLY_CONNECTED (``keep_num_dims`` for rank > 2);
* ReLU, ReLU6, LeakyReLU, Hardswish, SiLU (LOGISTIC·x), GELU, Sigmoid, Tanh; Dropout/Identity vanish;
* max/avg pooling, adaptive average pooling (global or evenly dividing), mean;
* add/sub/mul/div (by tensors or numbers), cat, flatten/reshape/view/unsqueeze/squeeze, permute/transpose;
* ``F.pad`` with constant zero padding → PAD;
* LayerNorm → LAYER_NORM, softmax → SOFTMAX, matmul → BATCH_MATMUL;
* ``nn.MultiheadAttention`` (``batch_first=True``, self- or cross-attention) and
  ``F.scaled_dot_product_attention`` → FULLY_CONNECTED / RESHAPE / TRANSPOSE / BATCH_MATMUL /
  SOFTMAX, the softmax scale folded into the query projection.

**Layout.** Torch is NCHW, the IR is NHWC: 4-D activations are held in the IR as
``torch_tensor.permute(0, 2, 3, 1)``, conv weights are transposed to OHWI (depthwise
``1×H×W×C·M``) and axis arguments are mapped. The graph input is NHWC, so the
preprocessing of a converted model is channels-last (``Preprocess.channels_first`` False);
the description of a quantized model records ``"input_layout": "NHWC (torch NCHW)"``. An
NCHW flatten of an H×W>1 map becomes TRANSPOSE + RESHAPE (a copy kernel in quantized models;
pooling first, as ResNets and MobileNets do, avoids it).

A 4-D model output stays NHWC too. The batch axis is axis 0 and stays there (batch 1 in the IR).

**Model file form** (``edgekit quantize model.pt``): a ``torch.save``'d dict ::

    {"edgekit_torch": 1,
     "module": <nn.Module>,                 # the whole module, pickled (class importable), or
     "arch": "name", "kwargs": {...},       # an architecture from edgekit's zoo registry
     "state_dict": {...},                   #   (with "arch") the weights
     "input_shape": [1, 3, 32, 32],         # NCHW example input shape
     "preprocess": {...}}                   # optional: Preprocess.to_dict() of the float input

Loading unpickles Python objects (``weights_only=False``): only load files you trust.
An unsupported op raises :class:`UnsupportedOpError` naming the op and its source line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from edgekit.data import Preprocess
from edgekit.errors import ModelFormatError, UnsupportedOpError
from edgekit.frontends import torch_functions as _functions  # noqa: F401 - fills FN_HANDLERS
from edgekit.frontends.torch_convert import _Converter
from edgekit.frontends.torch_modules import LEAF_MODULES
from edgekit.ir.graph import Graph

__all__ = ["from_torch", "load_torch_file", "save_torch_file", "ZOO"]

#: Zoo architectures by name: name -> factory(**kwargs) -> nn.Module (filled by the zoo module).
ZOO: dict[str, Callable[..., nn.Module]] = {}


class _Tracer(torch.fx.Tracer):
    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAF_MODULES)


def from_torch(module: nn.Module, example_input: torch.Tensor, name: str = "model") -> Graph:
    """Trace `module` (in eval mode) with torch.fx and convert it to a float IR graph.

    `example_input` fixes the shapes (batch 1, NCHW for images). Raises
    :class:`UnsupportedOpError` naming the op and its source line for anything unsupported.
    """
    module = module.eval()
    tracer = _Tracer()
    try:
        fx_graph = tracer.trace(module)
    except Exception as err:  # torch.fx raises many kinds (TraceError, TypeError, ...)
        raise UnsupportedOpError(f"torch.fx cannot trace {type(module).__name__}: {err}; remove data-dependent "
                                 "control flow from forward()") from None
    gm = torch.fx.GraphModule(tracer.root, fx_graph)
    with torch.no_grad():
        ShapeProp(gm).propagate(example_input)
    return _Converter(gm, name).run(example_input)


def load_torch_file(path: Path | str) -> tuple[Graph, Preprocess | None]:
    """Read the checkpoint form described in the module docstring → (graph, preprocessing or None)."""
    p = Path(path)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ModelFormatError(f"{p}: cannot load as a torch checkpoint ({err})") from None
    if isinstance(ckpt, nn.Module):
        raise ModelFormatError(f"{p} is a bare nn.Module; save {{'edgekit_torch': 1, 'module': m, "
                               "'input_shape': [1, 3, H, W]}} with edgekit.frontends.torch_fx.save_torch_file")
    if not isinstance(ckpt, dict) or "input_shape" not in ckpt:
        raise ModelFormatError(f"{p}: expected a dict with 'module' (or 'arch' + 'state_dict') and 'input_shape'")
    if isinstance(ckpt.get("module"), nn.Module):
        module = ckpt["module"]
    elif "arch" in ckpt:
        factory = ZOO.get(str(ckpt["arch"]))
        if factory is None:
            raise ModelFormatError(f"{p}: unknown zoo architecture {ckpt['arch']!r}; known: {sorted(ZOO) or 'none'}")
        module = factory(**ckpt.get("kwargs", {}))
        module.load_state_dict(ckpt["state_dict"])
    else:
        raise ModelFormatError(f"{p}: the checkpoint has neither 'module' nor 'arch'")
    shape = tuple(int(d) for d in ckpt["input_shape"])
    graph = from_torch(module, torch.zeros(shape), name=p.stem)
    pre = Preprocess.from_dict(ckpt["preprocess"]) if ckpt.get("preprocess") else None
    if pre is not None and pre.channels_first:
        from dataclasses import replace

        t = graph.tensors[graph.inputs[0]]
        pre = replace(pre, channels_first=False, input_shape=tuple(t.shape[1:]))
    return graph, pre


def save_torch_file(path: Path | str, module: nn.Module, input_shape: tuple[int, ...],
                    preprocess: Preprocess | None = None) -> None:
    """Write `module` in the checkpoint form :func:`load_torch_file` reads."""
    data: dict[str, Any] = {"edgekit_torch": 1, "module": module, "input_shape": list(input_shape)}
    if preprocess is not None:
        data["preprocess"] = preprocess.to_dict()
    torch.save(data, Path(path))

