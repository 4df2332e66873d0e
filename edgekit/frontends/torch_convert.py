"""PyTorch front end, core: the fx-graph → IR converter and its layout bookkeeping.

See :mod:`edgekit.frontends.torch_fx` for what is supported and how layouts map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node, Tensor

NHWC = (0, 2, 3, 1)  # IR tensor = torch tensor.permute(NHWC) for 4-D activations

#: Handlers filled by :mod:`torch_modules` (by module class) and :mod:`torch_functions`
#: (by function, or ("method", name)).
MODULE_HANDLERS: dict[type, Callable[..., Any]] = {}
FN_HANDLERS: dict[Any, Callable[..., Any]] = {}


@dataclass
class _Val:
    """A converted activation: IR tensor id and the permutation IR = torch.permute(perm)."""

    tid: int
    perm: tuple[int, ...]
    flat_chw: tuple[int, int, int] | None = None  # an NHWC-order flatten of a (C, H, W) map


def _inv(p: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(p)
    for i, v in enumerate(p):
        out[v] = i
    return tuple(out)


class _Converter:
    def __init__(self, gm: torch.fx.GraphModule, name: str) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.tensors: list[Tensor] = []
        self.nodes: list[Node] = []
        self.env: dict[str, Any] = {}
        self.name = name
        self.folded_bn: set[str] = set()
        self.users: dict[str, list[torch.fx.Node]] = {}
        for n in gm.graph.nodes:
            for a in n.all_input_nodes:
                self.users.setdefault(a.name, []).append(n)

    # ---- IR building -------------------------------------------------------------------------
    def tensor(self, shape: tuple[int, ...], name: str, data: np.ndarray | None = None,
               dtype: str = "float32") -> int:
        tid = len(self.tensors)
        if data is not None:
            data = np.ascontiguousarray(data.astype(dtype))
            shape = tuple(data.shape)
        self.tensors.append(Tensor(id=tid, name=name, shape=tuple(int(d) for d in shape), dtype=dtype, data=data))
        return tid

    def const(self, data: np.ndarray | float, name: str, dtype: str = "float32") -> int:
        arr = np.asarray(data)
        return self.tensor(arr.shape, name, arr, dtype)

    def ints(self, values: list[int] | tuple[int, ...], name: str) -> int:
        return self.const(np.asarray(values, dtype=np.int32), name, "int32")

    def op(self, op: str, inputs: list[int], out_shape: tuple[int, ...], name: str, **attrs: Any) -> int:
        out = self.tensor(out_shape, name)
        self.nodes.append(Node(index=len(self.nodes), op=op, inputs=inputs, outputs=[out], attrs=attrs))
        return out

    def shape(self, tid: int) -> tuple[int, ...]:
        return self.tensors[tid].shape

    # ---- layouts -------------------------------------------------------------------------------
    def to_perm(self, v: _Val, perm: tuple[int, ...], name: str) -> _Val:
        """The same torch value held in the IR with permutation `perm` (TRANSPOSE if needed)."""
        if v.perm == perm:
            return v
        # IR_new = torch.permute(perm) = IR_old.permute(q) with q[j] = v.perm.index(perm[j])
        q = tuple(v.perm.index(p) for p in perm)
        shape = tuple(self.shape(v.tid)[i] for i in q)
        tid = self.op("TRANSPOSE", [v.tid, self.ints(list(q), f"{name}/perm")], shape, f"{name}/transpose")
        return _Val(tid, perm)

    def ident(self, v: _Val, name: str) -> _Val:
        return self.to_perm(v, tuple(range(len(v.perm))), name)

    # ---- driver --------------------------------------------------------------------------------
    def run(self, example: torch.Tensor) -> Graph:
        graph_inputs: list[int] = []
        outputs: list[int] = []
        for n in self.gm.graph.nodes:
            try:
                if n.op == "placeholder":
                    shape = tuple(n.meta["tensor_meta"].shape)
                    perm = NHWC if len(shape) == 4 else tuple(range(len(shape)))
                    tid = self.tensor(tuple(shape[p] for p in perm), n.name)
                    graph_inputs.append(tid)
                    self.env[n.name] = _Val(tid, perm)
                elif n.op == "output":
                    res = n.args[0]
                    res = res[0] if isinstance(res, (tuple, list)) else res
                    v = self.value(res)  # 4-D outputs stay NHWC, like the input
                    outputs.append((v if v.perm == NHWC else self.ident(v, "output")).tid)
                elif n.op == "get_attr":
                    self.env[n.name] = _fetch_attr(self.gm, n.target)
                else:
                    self.env[n.name] = self.convert(n)
            except UnsupportedOpError as err:
                raise UnsupportedOpError(f"{err}{_where(n)}") from None
        return Graph(tensors=self.tensors, nodes=self.nodes, inputs=graph_inputs, outputs=outputs, name=self.name)

    def value(self, a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return self.env[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(self.value(x) for x in a)
        if isinstance(a, slice):
            return slice(self.value(a.start), self.value(a.stop), self.value(a.step))
        return a

    def convert(self, n: torch.fx.Node) -> Any:
        args = [self.value(a) for a in n.args]
        kwargs = {k: self.value(v) for k, v in n.kwargs.items()}
        if n.op == "call_module":
            mod = self.modules[str(n.target)]
            return MODULE_HANDLERS[_module_kind(mod, n)](self, n, mod, args, kwargs)
        if not any(isinstance(a, _Val) for a in _flatten(args + list(kwargs.values()))):
            # shape arithmetic on Python values, or constant folding of parameters (cls_token.expand)
            with torch.no_grad():
                return _eval_static(n, args, kwargs)
        key = n.target if n.op == "call_function" else ("method", n.target)
        handler = FN_HANDLERS.get(key)
        if handler is None:
            what = getattr(n.target, "__name__", str(n.target))
            raise UnsupportedOpError(
                f"unsupported torch op {what!r} ({n.op}) at {n.name}; the PyTorch front end supports "
                "conv/linear/norm/activation/pooling/add/mul/cat/reshape/permute/matmul/softmax/attention")
        return handler(self, n, args, kwargs)

    def torch_shape(self, n: torch.fx.Node) -> tuple[int, ...]:
        meta = n.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            raise UnsupportedOpError(f"{n.name} has no tensor shape")
        return tuple(int(d) for d in meta.shape)

    def ir_shape(self, n: torch.fx.Node, perm: tuple[int, ...]) -> tuple[int, ...]:
        s = self.torch_shape(n)
        return tuple(s[p] for p in perm)

    def operand(self, a: Any, like: _Val, name: str) -> _Val:
        """A tensor operand of a binary op: activations as they are, numbers/tensors as constants."""
        if isinstance(a, _Val):
            return a
        arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float32)
        arr = arr.astype(np.float32)
        if arr.ndim == len(like.perm):
            arr = arr.transpose(like.perm)
        elif arr.ndim > 1:
            raise UnsupportedOpError(f"{name}: constant operand of rank {arr.ndim} with an activation of rank "
                                     f"{len(like.perm)}")
        return _Val(self.const(arr.reshape(arr.shape or (1,)), f"{name}/const"), like.perm)


def _fetch_attr(gm: torch.fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for a in items:
        if isinstance(a, (list, tuple)):
            out.extend(_flatten(list(a)))
        else:
            out.append(a)
    return out


def _where(n: torch.fx.Node) -> str:
    """The user's source line of an fx node (the last stack frame outside torch)."""
    trace = [ln.rstrip() for ln in (n.stack_trace or "").splitlines() if ln.strip()]
    torch_dir = str(Path(torch.__file__).parent)
    for i in range(len(trace) - 1, -1, -1):
        line = trace[i].strip()
        if line.startswith("File ") and torch_dir not in line:
            code = trace[i + 1].strip() if i + 1 < len(trace) and not trace[i + 1].strip().startswith("File ") \
                else ""
            return f" ({line}: {code})" if code else f" ({line})"
    return f" (fx node {n.name}: {n.format_node()})"


def _eval_static(n: torch.fx.Node, args: list, kwargs: dict) -> Any:
    if n.op == "call_function":
        return n.target(*args, **kwargs)
    if n.op == "call_method":
        return getattr(args[0], str(n.target))(*args[1:], **kwargs)
    raise UnsupportedOpError(f"cannot evaluate {n.format_node()}")


def _module_kind(mod: nn.Module, n: torch.fx.Node) -> type:
    for kind in MODULE_HANDLERS:
        if isinstance(mod, kind):
            return kind
    raise UnsupportedOpError(f"unsupported torch module {type(mod).__name__} at {n.target}")

