"""Keras front end: a ``.h5`` / ``.keras`` model → the float graph IR (NHWC, TFLite op names).

Needs the optional extra ``edgekit[keras]`` (``tensorflow-cpu``, which brings Keras 3 and h5py).
The model is loaded with ``keras.models.load_model(path, compile=False)`` and its functional
graph is walked in topological order. Supported layers:

* ``InputLayer``; ``Conv2D`` (groups 1), ``DepthwiseConv2D``, ``Dense`` (on the last axis),
  each with its ``activation``;
* ``BatchNormalization`` (last axis): folded into the preceding convolution/dense layer when that
  layer feeds only the BN, else a per-channel ``MUL`` + ``ADD``;
* ``Activation`` (relu, relu6, linear, softmax, sigmoid, tanh, hard_swish/hard_silu, gelu),
  ``ReLU`` (max_value None or 6, no negative slope or threshold), ``Softmax`` (last axis);
* ``Add``, ``Subtract``, ``Multiply``, ``Concatenate`` (same-shape operands);
* ``AveragePooling2D``, ``MaxPooling2D``, ``GlobalAveragePooling2D``, ``ZeroPadding2D``;
* ``Flatten``, ``Reshape``, ``Dropout`` (identity at inference).

Anything else raises :class:`UnsupportedOpError` naming the layer, its class and its inputs.
Channels-last layouts only (Keras' default), which is TFLite's NHWC, so no transposes are needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError, ModelFormatError, UnsupportedOpError
from edgekit.ir.graph import Graph, Node, Tensor

__all__ = ["KERAS_SUFFIXES", "load_keras", "keras_to_graph", "require_keras"]

KERAS_SUFFIXES = (".h5", ".keras", ".hdf5")

_ACTIVATIONS = {"relu": "RELU", "relu6": "RELU6", "sigmoid": "LOGISTIC", "tanh": "TANH",
                "hard_swish": "HARD_SWISH", "hard_silu": "HARD_SWISH", "gelu": "GELU"}


def require_keras() -> Any:
    """Import keras (from tensorflow-cpu), or say how to install it."""
    try:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
    except ImportError:
        raise EdgekitError("reading Keras models (.h5/.keras) needs TensorFlow; install it with "
                           "`pip install edgekit[keras]` (tensorflow-cpu)") from None
    return keras


def load_keras(path: str | Path) -> Graph:
    """Read a Keras ``.h5``/``.keras`` file into the float IR."""
    p = Path(path)
    if not p.exists():
        raise ModelFormatError(f"model file not found: {p}")
    keras = require_keras()
    try:
        model = keras.models.load_model(str(p), compile=False)
    except (OSError, ValueError, TypeError, KeyError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelFormatError(f"{p}: Keras cannot load this file ({msg[:300]}); give a Keras .h5 or .keras model "
                               "saved with model.save()") from None
    return keras_to_graph(model, name=p.stem)


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tensors: list[Tensor] = []
        self.nodes: list[Node] = []
        self.producer: dict[int, int] = {}  # tensor id -> node index
        self.consumers: dict[int, int] = {}  # tensor id -> number of consuming layers

    def tensor(self, shape: tuple[int, ...], name: str, data: np.ndarray | None = None,
               dtype: str = "float32") -> int:
        tid = len(self.tensors)
        if data is not None:
            data = np.ascontiguousarray(np.asarray(data).astype(dtype))
            shape = tuple(data.shape)
        self.tensors.append(Tensor(id=tid, name=name, shape=tuple(int(d) for d in shape), dtype=dtype, data=data))
        return tid

    def const(self, data: np.ndarray, name: str, dtype: str = "float32") -> int:
        return self.tensor(np.asarray(data).shape, name, np.asarray(data), dtype)

    def op(self, op: str, inputs: list[int], out_shape: tuple[int, ...], name: str, **attrs: Any) -> int:
        out = self.tensor(out_shape, name)
        self.producer[out] = len(self.nodes)
        self.nodes.append(Node(index=len(self.nodes), op=op, inputs=inputs, outputs=[out], attrs=attrs))
        return out

    def shape(self, tid: int) -> tuple[int, ...]:
        return self.tensors[tid].shape

    def activation(self, tid: int, act: str, name: str) -> int:
        """Apply a Keras activation (by name) to `tid`."""
        act = act or "linear"
        if act == "linear":
            return tid
        if act == "softmax":
            return self.op("SOFTMAX", [tid], self.shape(tid), f"{name}/softmax", beta=1.0)
        if act not in _ACTIVATIONS:
            raise UnsupportedOpError(f"activation {act!r} (supported: linear, softmax, {', '.join(_ACTIVATIONS)})")
        return self.op(_ACTIVATIONS[act], [tid], self.shape(tid), f"{name}/{act}")


def _act_name(act: Any) -> str:
    if act is None:
        return "linear"
    if isinstance(act, str):
        return act
    if isinstance(act, dict):  # serialized activation
        return str(act.get("config", act).get("name", act.get("class_name", "?")))
    return str(getattr(act, "__name__", act))


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _out_shape(layer: Any) -> tuple[int, ...]:
    shape = layer.output.shape
    return tuple(1 if d is None else int(d) for d in shape)


def _padding(layer: Any) -> str:
    pad = str(layer.padding).lower()
    if pad not in ("same", "valid"):
        raise UnsupportedOpError(f"padding {pad!r} (only 'same' and 'valid')")
    return pad.upper()


def _channels_last(layer: Any) -> None:
    fmt = getattr(layer, "data_format", "channels_last")
    if fmt not in (None, "channels_last"):
        raise UnsupportedOpError(f"data_format={fmt!r}; edgekit reads channels_last models only")


def _bn_affine(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
    rank = len(layer.input.shape)
    if axis not in (-1, rank - 1):
        raise UnsupportedOpError(f"BatchNormalization over axis {axis} (only the last, channel axis)")
    weights = {w.path.split("/")[-1] if hasattr(w, "path") else w.name: np.asarray(w.numpy(), np.float64)
               for w in layer.weights}
    mean, var = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(var))
    beta = weights.get("beta", np.zeros_like(var))
    scale = gamma / np.sqrt(var + float(layer.epsilon))
    return scale, beta - mean * scale


class _Converter:
    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.b = _Builder(name)
        self.env: dict[int, int] = {}  # id(KerasTensor) -> IR tensor id

    def inputs_of(self, layer: Any) -> list[Any]:
        nodes = [n for n in layer._inbound_nodes if all(id(t) in self.env for t in n.input_tensors)]
        if len(layer._inbound_nodes) > 1 and len(nodes) != 1:
            raise UnsupportedOpError("a layer shared between several call sites")
        return list(nodes[0].input_tensors) if nodes else []

    def run(self) -> Graph:
        b = self.b
        inputs: list[int] = []
        for t in self.model.inputs:
            shape = tuple(1 if d is None else int(d) for d in t.shape)
            tid = b.tensor(shape, getattr(t, "name", "input") or "input")
            self.env[id(t)] = tid
            inputs.append(tid)
        # count consumers so folding a BN into its producer never changes another reader
        for layer in self.model.layers:
            for node in layer._inbound_nodes:
                for t in node.input_tensors:
                    b.consumers[id(t)] = b.consumers.get(id(t), 0) + 1
        for layer in self.model.layers:
            cls = type(layer).__name__
            if cls == "InputLayer":
                continue
            try:
                ins = self.inputs_of(layer)
                if not ins:
                    raise UnsupportedOpError("a layer with no input from this model")
                handler = getattr(self, f"_{cls}", None)
                if handler is None:
                    raise UnsupportedOpError(f"Keras layer type {cls} is not supported")
                out = handler(layer, [self.env[id(t)] for t in ins], ins)
            except UnsupportedOpError as err:
                srcs = ", ".join(getattr(t, "name", "?") for t in self.inputs_of_safe(layer))
                raise UnsupportedOpError(f"Keras layer {layer.name!r} ({cls}, inputs: {srcs or '-'}): {err}") from None
            self.env[id(layer.output)] = out
        outputs = [self.env[id(t)] for t in self.model.outputs]
        return Graph(tensors=b.tensors, nodes=b.nodes, inputs=inputs, outputs=outputs, name=b.name,
                     description=f"Keras model {self.model.name}")

    def inputs_of_safe(self, layer: Any) -> list[Any]:
        try:
            return [t for n in layer._inbound_nodes for t in n.input_tensors]
        except Exception:  # noqa: BLE001 - only used to word an error message
            return []

    # ---- layers ------------------------------------------------------------------------------
    def _Conv2D(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        _channels_last(layer)
        if getattr(layer, "groups", 1) != 1:
            raise UnsupportedOpError(f"grouped Conv2D (groups={layer.groups})")
        w = np.asarray(layer.kernel.numpy())  # (kh, kw, in, out)
        bias = np.asarray(layer.bias.numpy()) if layer.use_bias else np.zeros(w.shape[-1], np.float32)
        s, d = _pair(layer.strides), _pair(layer.dilation_rate)
        b = self.b
        tid = b.op("CONV_2D", [xs[0], b.const(w.transpose(3, 0, 1, 2), f"{layer.name}/kernel"),
                               b.const(bias, f"{layer.name}/bias")], _out_shape(layer), layer.name,
                   padding=_padding(layer), stride_w=s[1], stride_h=s[0], dilation_w_factor=d[1],
                   dilation_h_factor=d[0], fused_activation_function="NONE")
        return b.activation(tid, _act_name(layer.activation), layer.name)

    def _DepthwiseConv2D(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        _channels_last(layer)
        w = np.asarray(layer.kernel.numpy())  # (kh, kw, in, mult)
        kh, kw, cin, mult = w.shape
        bias = np.asarray(layer.bias.numpy()) if layer.use_bias else np.zeros(cin * mult, np.float32)
        s, d = _pair(layer.strides), _pair(layer.dilation_rate)
        b = self.b
        tid = b.op("DEPTHWISE_CONV_2D", [xs[0], b.const(w.reshape(1, kh, kw, cin * mult), f"{layer.name}/kernel"),
                                         b.const(bias, f"{layer.name}/bias")], _out_shape(layer), layer.name,
                   padding=_padding(layer), stride_w=s[1], stride_h=s[0], depth_multiplier=int(mult),
                   dilation_w_factor=d[1], dilation_h_factor=d[0], fused_activation_function="NONE")
        return b.activation(tid, _act_name(layer.activation), layer.name)

    def _Dense(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        w = np.asarray(layer.kernel.numpy())  # (in, out)
        bias = np.asarray(layer.bias.numpy()) if layer.use_bias else np.zeros(w.shape[-1], np.float32)
        b = self.b
        keep = len(b.shape(xs[0])) > 2
        ins = [xs[0], b.const(w.T, f"{layer.name}/kernel"), b.const(bias, f"{layer.name}/bias")]
        tid = b.op("FULLY_CONNECTED", ins, _out_shape(layer), layer.name, fused_activation_function="NONE",
                   keep_num_dims=keep)
        return b.activation(tid, _act_name(layer.activation), layer.name)

    def _BatchNormalization(self, layer: Any, xs: list[int], ins: list[Any]) -> int:
        scale, shift = _bn_affine(layer)
        b = self.b
        x = xs[0]
        node_idx = b.producer.get(x)
        node = b.nodes[node_idx] if node_idx is not None else None
        if (node is not None and node.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
                and node.attrs.get("fused_activation_function") == "NONE" and b.consumers.get(id(ins[0]), 0) == 1
                and node.inputs[2] >= 0):
            w_t, b_t = b.tensors[node.inputs[1]], b.tensors[node.inputs[2]]
            assert w_t.data is not None and b_t.data is not None
            w = w_t.data.astype(np.float64)
            if node.op == "DEPTHWISE_CONV_2D":
                w = w * scale.reshape(1, 1, 1, -1)
            else:  # CONV_2D OHWI, FULLY_CONNECTED (out, in): output channel first
                w = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
            w_t.data = w.astype(np.float32)
            b_t.data = (b_t.data.astype(np.float64) * scale + shift).astype(np.float32)
            return x
        shape = b.shape(x)
        m = b.op("MUL", [x, b.const(scale.astype(np.float32), f"{layer.name}/scale")], shape, f"{layer.name}/mul",
                 fused_activation_function="NONE")
        return b.op("ADD", [m, b.const(shift.astype(np.float32), f"{layer.name}/shift")], shape, layer.name,
                    fused_activation_function="NONE")

    def _Activation(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self.b.activation(xs[0], _act_name(layer.activation), layer.name)

    def _ReLU(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
        threshold = float(getattr(layer, "threshold", 0.0) or 0.0)
        max_value = getattr(layer, "max_value", None)
        if slope != 0.0 or threshold != 0.0:
            raise UnsupportedOpError("ReLU with negative_slope or threshold")
        if max_value is None:
            return self.b.activation(xs[0], "relu", layer.name)
        if float(max_value) == 6.0:
            return self.b.activation(xs[0], "relu6", layer.name)
        raise UnsupportedOpError(f"ReLU with max_value={max_value} (only None or 6)")

    def _Softmax(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
        if axis not in (-1, len(self.b.shape(xs[0])) - 1):
            raise UnsupportedOpError(f"Softmax over axis {axis} (only the last)")
        return self.b.activation(xs[0], "softmax", layer.name)

    def _binary(self, op: str, layer: Any, xs: list[int]) -> int:
        shapes = {self.b.shape(x) for x in xs}
        if len(shapes) != 1:
            raise UnsupportedOpError(f"{type(layer).__name__} of differently shaped inputs {sorted(shapes)}")
        out = xs[0]
        for k, x in enumerate(xs[1:]):
            name = layer.name if k == len(xs) - 2 else f"{layer.name}/{k}"
            out = self.b.op(op, [out, x], self.b.shape(xs[0]), name, fused_activation_function="NONE")
        return out

    def _Add(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self._binary("ADD", layer, xs)

    def _Subtract(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self._binary("SUB", layer, xs)

    def _Multiply(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self._binary("MUL", layer, xs)

    def _Concatenate(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        rank = len(self.b.shape(xs[0]))
        axis = layer.axis if layer.axis >= 0 else rank + layer.axis
        return self.b.op("CONCATENATION", xs, _out_shape(layer), layer.name, axis=int(axis),
                         fused_activation_function="NONE")

    def _pool(self, op: str, layer: Any, xs: list[int]) -> int:
        _channels_last(layer)
        k = _pair(layer.pool_size)
        s = _pair(layer.strides if layer.strides is not None else layer.pool_size)
        return self.b.op(op, [xs[0]], _out_shape(layer), layer.name, padding=_padding(layer), stride_w=s[1],
                         stride_h=s[0], filter_width=k[1], filter_height=k[0], fused_activation_function="NONE")

    def _AveragePooling2D(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self._pool("AVERAGE_POOL_2D", layer, xs)

    def _MaxPooling2D(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self._pool("MAX_POOL_2D", layer, xs)

    def _GlobalAveragePooling2D(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        _channels_last(layer)
        keep = bool(getattr(layer, "keepdims", False))
        axes = self.b.const(np.asarray([1, 2], np.int32), f"{layer.name}/axes", "int32")
        return self.b.op("MEAN", [xs[0], axes], _out_shape(layer), layer.name, keep_dims=keep)

    def _ZeroPadding2D(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        _channels_last(layer)
        (top, bottom), (left, right) = layer.padding
        pads = np.asarray([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
        return self.b.op("PAD", [xs[0], self.b.const(pads, f"{layer.name}/pads", "int32")], _out_shape(layer),
                         layer.name)

    def _reshape(self, layer: Any, xs: list[int]) -> int:
        shape = _out_shape(layer)
        new = np.asarray([-1, *shape[1:]], np.int32)
        return self.b.op("RESHAPE", [xs[0], self.b.const(new, f"{layer.name}/shape", "int32")], shape, layer.name)

    def _Flatten(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        _channels_last(layer)
        return self._reshape(layer, xs)

    def _Reshape(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return self._reshape(layer, xs)

    def _Dropout(self, layer: Any, xs: list[int], _: list[Any]) -> int:
        return xs[0]


def keras_to_graph(model: Any, name: str = "model") -> Graph:
    """A loaded Keras model (functional or Sequential) → float IR graph."""
    if not getattr(model, "inputs", None) or not getattr(model, "outputs", None):
        raise ModelFormatError(f"Keras model {getattr(model, 'name', name)!r} is not built (no inputs); "
                               "build it (call it on an input) and save it again")
    if len(model.inputs) != 1:
        raise UnsupportedOpError(f"Keras model with {len(model.inputs)} inputs (edgekit models take one)")
    return _Converter(model, name).run()
