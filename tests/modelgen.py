"""Seeded generators of valid full-int8 TFLite models in TFLM's conventions.

Every generator takes a ``numpy.random.Generator`` and returns a
:class:`edgekit.tflite.writer.ModelSpec`:

* activations: int8, per-tensor, asymmetric, the real range contains 0;
* conv weights int8 symmetric per-channel in [-127, 127] (axis 0, OHWI); depthwise weights
  ``1×H×W×(C·M)`` per-channel along axis 3; FC weights per-tensor or per-channel (axis 0);
* bias int32 with scale ``s_in·s_w[c]``, zero point 0;
* softmax/logistic output ``(1/256, -128)``; pool, concat, pad, reshape, squeeze keep the input
  quantization.

Output quantization is calibrated like post-training quantization: a batch of random int8
inputs (spread over the whole range, as ``random_inputs`` draws them) is pushed through a float
reference of each op, and the output scale/zero point come from the min/max. Weighted layers get
BatchNorm-like biases (per-channel pre-activation mean near 0), so fused ReLUs neither kill nor
pass whole channels and outputs are not saturated or constant.

``OP_GENERATORS`` maps a builtin op name to its generator; ``random_chain`` builds multi-op
graphs; ``random_inputs`` draws inputs matching a spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec

#: Real range assumed for float32 model inputs (QUANTIZE from float); ``random_inputs`` draws there.
FLOAT_INPUT_RANGE = (-4.0, 4.0)

SOFTMAX_QPARAMS = (1.0 / 256.0, -128)
ACTIVATIONS = ("NONE", "RELU", "RELU6")


def qparams_for_range(lo: float, hi: float) -> tuple[float, int]:
    """TFLite-style asymmetric int8 (scale, zero point) for the real range [lo, hi] ∪ {0}."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-3
    scale = (hi - lo) / 255.0
    zp = int(np.clip(round(-128.0 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def quantize_symmetric(w: np.ndarray, axis: int | None, qmax: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantization in [-qmax, qmax] (int8: 127, int4: 7), per channel along ``axis``
    (None: per tensor)."""
    if axis is None:
        amax = np.array([np.abs(w).max()])
        scales = np.maximum(amax, 1e-8) / qmax
        q = np.round(w / scales[0])
    else:
        red = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=red)
        scales = np.maximum(amax, 1e-8) / qmax
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.round(w / scales.reshape(shape))
    return np.clip(q, -qmax, qmax).astype(np.int8), scales.astype(np.float32)


N_SAMPLES = 16  # calibration batch: random int8 inputs over the whole range


def _same_pads(size: int, k_eff: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _pad_hw(x: np.ndarray, ph: tuple[int, int], pw: tuple[int, int], value: float) -> np.ndarray:
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def _windows(
    x: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, padding: str, value: float = 0.0
) -> tuple[list[tuple[int, int, np.ndarray]], int, int]:
    """(i, j, strided slice) for each kernel tap, and the output height/width."""
    _, h, w, _ = x.shape
    oh, ow = _out_hw(h, w, kh, kw, sh, sw, dh, dw, padding)
    if padding == "SAME":
        x = _pad_hw(x, _same_pads(h, (kh - 1) * dh + 1, sh), _same_pads(w, (kw - 1) * dw + 1, sw), value)
    taps = []
    for i in range(kh):
        for j in range(kw):
            sl = x[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw, :]
            taps.append((i, j, sl))
    return taps, oh, ow


def _apply_act(v: np.ndarray, act: str) -> np.ndarray:
    if act == "RELU":
        return np.maximum(v, 0.0)
    if act == "RELU6":
        return np.clip(v, 0.0, 6.0)
    return v


class Graph:
    """Incremental builder of a quantized graph, calibrated like post-training quantization.

    Each activation carries a batch of real-valued samples (``N_SAMPLES`` random int8 inputs,
    pushed through a float reference of every op); output quantization comes from their
    min/max, and the samples are then fake-quantized so later layers see what TFLM sees.
    """

    def __init__(self, rng: np.random.Generator, weight_dtype: str = "int8") -> None:
        self.rng = rng
        self.weight_dtype = weight_dtype  # "int8" or "int4" (conv, depthwise and FC filters)
        self.qmax = 7 if weight_dtype == "int4" else 127
        self.tensors: list[TensorSpec] = []
        self.ops: list[OpSpec] = []
        self.samples: dict[int, np.ndarray] = {}

    # ---- tensors -----------------------------------------------------------------------------
    def _add(self, t: TensorSpec) -> int:
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, shape: Sequence[int], scale: float, zp: int, samples: np.ndarray | None = None) -> int:
        """An int8 activation with the given quantization (samples are fake-quantized to it)."""
        shape = tuple(int(d) for d in shape)
        idx = self._add(TensorSpec(f"t{len(self.tensors)}", shape, "int8", scale=[scale], zero_point=[zp]))
        if samples is None:
            q = self.rng.integers(-128, 128, size=(N_SAMPLES, *shape[1:]))
        else:
            q = np.clip(np.round(samples / scale) + zp, -128, 127)
        self.samples[idx] = (q - zp) * scale
        return idx

    def calibrated(self, samples: np.ndarray, act: str = "NONE", shape: Sequence[int] | None = None) -> int:
        """An int8 activation quantized from the min/max of its (post-activation) float samples."""
        v = _apply_act(samples, act)
        lo, hi = float(v.min()), float(v.max())
        margin = 0.05 * (hi - lo)  # a small calibration batch underestimates the range
        lo, hi = lo - margin, hi + margin
        if act in ("RELU", "RELU6"):
            lo = 0.0
        if hi - lo < 1e-3:  # a constant tensor: keep some range so the quantization is valid
            hi = lo + 1e-2
        scale, zp = qparams_for_range(lo, hi)
        return self.act(shape if shape is not None else (1, *v.shape[1:]), scale, zp, v)

    def like(self, src: int, shape: Sequence[int] | None = None, samples: np.ndarray | None = None) -> int:
        """An activation with ``src``'s quantization (reshapes keep the samples)."""
        scale, zp = self.qp(src)
        shape = tuple(shape) if shape is not None else self.shape(src)
        if samples is None and self.samples[src].size == N_SAMPLES * int(np.prod(shape[1:])):
            samples = self.samples[src].reshape((N_SAMPLES, *shape[1:]))
        return self.act(shape, scale, zp, samples)

    def const(
        self,
        data: np.ndarray,
        dtype: str,
        scale: Sequence[float] | None = None,
        zp: Sequence[int] | None = None,
        qdim: int = 0,
    ) -> int:
        arr = np.asarray(data).astype("int8" if dtype in ("int4", "int2") else dtype)  # sub-byte: one int8 each
        return self._add(
            TensorSpec(
                f"c{len(self.tensors)}",
                tuple(arr.shape),
                dtype,
                data=arr,
                scale=None if scale is None else [float(s) for s in scale],
                zero_point=None if zp is None else [int(z) for z in zp],
                quantized_dimension=qdim,
            )
        )

    def int32_const(self, values: Sequence[int]) -> int:
        return self.const(np.asarray(values, dtype=np.int32), "int32")

    def share_quantization(self, idxs: Sequence[int]) -> None:
        """Give not-yet-consumed tensors ``idxs`` one quantization covering all their ranges."""
        qps = [self.qp(i) for i in idxs]
        lo = min((-128 - zp) * s for s, zp in qps)
        hi = max((127 - zp) * s for s, zp in qps)
        scale, zp = qparams_for_range(lo, hi)
        for i in idxs:
            self.tensors[i].scale, self.tensors[i].zero_point = [scale], [zp]
            self.samples[i] = (np.clip(np.round(self.samples[i] / scale) + zp, -128, 127) - zp) * scale

    def qp(self, idx: int) -> tuple[float, int]:
        t = self.tensors[idx]
        assert t.scale is not None and t.zero_point is not None
        return float(t.scale[0]), int(t.zero_point[0])

    def shape(self, idx: int) -> tuple[int, ...]:
        return self.tensors[idx].shape

    def input(self, shape: Sequence[int]) -> int:
        """An int8 input with a random real range (symmetric, non-negative or asymmetric)."""
        r = self.rng
        width = float(r.uniform(0.5, 8.0))
        kind = r.integers(0, 3)
        lo = -width / 2 if kind == 0 else (0.0 if kind == 1 else -width * float(r.uniform(0.05, 0.95)))
        scale, zp = qparams_for_range(lo, lo + width)
        return self.act(shape, scale, zp)

    def op(self, name: str, inputs: list[int], outputs: list[int], **options: object) -> None:
        self.ops.append(OpSpec(name, list(inputs), list(outputs), dict(options)))

    def spec(self, inputs: list[int], outputs: list[int], description: str = "modelgen") -> ModelSpec:
        return ModelSpec(list(self.tensors), list(self.ops), inputs, outputs, description)

    # ---- weighted layers ----------------------------------------------------------------------
    def _weights(self, n_out: int, fan_in: int, x: int, target_sd: float) -> np.ndarray:
        """Float weights (n_out, fan_in) scaled so each output's pre-activation sd ≈ target_sd."""
        sq = float(np.mean(self.samples[x] ** 2)) + 1e-6
        sigma = target_sd / math.sqrt(fan_in * sq)
        per_ch = sigma * self.rng.uniform(0.5, 1.5, size=(n_out, 1))
        return self.rng.normal(0.0, 1.0, size=(n_out, fan_in)) * per_ch

    def _bias(self, x: int, pre: np.ndarray, w_scales: np.ndarray) -> tuple[int, np.ndarray]:
        """int32 bias (scale s_in·s_w[c]) like a BatchNorm-folded layer, and the biased samples.

        Each channel's pre-activation mean ends up near 0 (± half its sd), so fused ReLUs
        neither kill a channel nor pass it unchanged.
        """
        n_out = pre.shape[-1]
        flat = pre.reshape(-1, n_out)
        bias = -flat.mean(axis=0) + self.rng.normal(0.0, 0.5, size=n_out) * (flat.std(axis=0) + 1e-3)
        s_in, _ = self.qp(x)
        b_scale = (np.float32(s_in) * np.broadcast_to(w_scales, (n_out,)).astype(np.float32)).astype(
            np.float64
        )
        bq = np.clip(np.round(bias / b_scale), -(2**31), 2**31 - 1).astype(np.int32)
        b_idx = self.const(bq, "int32", scale=b_scale.astype(np.float32).tolist(), zp=[0] * n_out)
        return b_idx, pre + bq * b_scale

    def conv2d(
        self,
        x: int,
        cout: int | None = None,
        kernel: tuple[int, int] | None = None,
        stride: tuple[int, int] | None = None,
        dilation: tuple[int, int] | None = None,
        padding: str | None = None,
        act: str | None = None,
    ) -> int:
        r = self.rng
        _, h, w, cin = self.shape(x)
        cout = cout or int(r.integers(1, 9))
        kh, kw = kernel or (int(r.integers(1, 4)), int(r.integers(1, 4)))
        sh, sw = stride or (int(r.integers(1, 3)), int(r.integers(1, 3)))
        dh, dw = dilation or (1, 1)
        padding = padding or _pick_padding(r, h, w, kh, kw, dh, dw)
        act = act or str(r.choice(ACTIVATIONS))
        wf = self._weights(cout, kh * kw * cin, x, float(r.uniform(0.5, 3.0)))
        wq, ws = quantize_symmetric(wf.reshape(cout, kh, kw, cin), axis=0, qmax=self.qmax)
        w_idx = self.const(wq, self.weight_dtype, scale=ws.tolist(), zp=[0] * cout, qdim=0)
        w_real = wq * ws[:, None, None, None].astype(np.float64)
        taps, _, _ = _windows(self.samples[x], kh, kw, sh, sw, dh, dw, padding)
        pre = sum(sl @ w_real[:, i, j, :].T for i, j, sl in taps)
        b_idx, pre = self._bias(x, np.asarray(pre), ws)
        y = self.calibrated(pre, act)
        self.op(
            "CONV_2D",
            [x, w_idx, b_idx],
            [y],
            padding=padding,
            stride_w=sw,
            stride_h=sh,
            fused_activation_function=act,
            dilation_w_factor=dw,
            dilation_h_factor=dh,
        )
        return y

    def depthwise(
        self,
        x: int,
        multiplier: int | None = None,
        kernel: tuple[int, int] | None = None,
        stride: tuple[int, int] | None = None,
        dilation: tuple[int, int] | None = None,
        padding: str | None = None,
        act: str | None = None,
    ) -> int:
        r = self.rng
        _, h, w, cin = self.shape(x)
        m = multiplier or int(r.integers(1, 3))
        kh, kw = kernel or (int(r.integers(1, 4)), int(r.integers(1, 4)))
        sh, sw = stride or (int(r.integers(1, 3)), int(r.integers(1, 3)))
        dh, dw = dilation or (1, 1)
        padding = padding or _pick_padding(r, h, w, kh, kw, dh, dw)
        act = act or str(r.choice(ACTIVATIONS))
        cout = cin * m
        wf = self._weights(cout, kh * kw, x, float(r.uniform(0.5, 3.0)))  # (C·M, kh·kw)
        wq, ws = quantize_symmetric(wf.T.reshape(1, kh, kw, cout), axis=3, qmax=self.qmax)
        w_idx = self.const(wq, self.weight_dtype, scale=ws.tolist(), zp=[0] * cout, qdim=3)
        w_real = wq[0] * ws.astype(np.float64)
        xs = np.repeat(self.samples[x], m, axis=3)  # output channel c·M+k reads input channel c
        taps, _, _ = _windows(xs, kh, kw, sh, sw, dh, dw, padding)
        pre = sum(sl * w_real[i, j] for i, j, sl in taps)
        b_idx, pre = self._bias(x, np.asarray(pre), ws)
        y = self.calibrated(pre, act)
        self.op(
            "DEPTHWISE_CONV_2D",
            [x, w_idx, b_idx],
            [y],
            padding=padding,
            stride_w=sw,
            stride_h=sh,
            depth_multiplier=m,
            fused_activation_function=act,
            dilation_w_factor=dw,
            dilation_h_factor=dh,
        )
        return y

    def fully_connected(
        self,
        x: int,
        units: int | None = None,
        per_channel: bool = False,
        keep_num_dims: bool = False,
        act: str | None = None,
        bias: bool = True,
    ) -> int:
        r = self.rng
        shape = self.shape(x)
        n_in = shape[-1] if keep_num_dims else int(np.prod(shape[1:]))
        units = units or int(r.integers(1, 17))
        act = act or str(r.choice(ACTIVATIONS))
        wf = self._weights(units, n_in, x, float(r.uniform(0.5, 3.0)))
        wq, ws = quantize_symmetric(wf, axis=0 if per_channel else None, qmax=self.qmax)
        n_sc = units if per_channel else 1
        w_idx = self.const(wq, self.weight_dtype, scale=ws.tolist(), zp=[0] * n_sc, qdim=0)
        xs = self.samples[x]
        xs = xs if keep_num_dims else xs.reshape(N_SAMPLES, n_in)
        pre = xs @ (wq * np.broadcast_to(ws, (units,))[:, None].astype(np.float64)).T
        b_idx = -1
        if bias:
            b_idx, pre = self._bias(x, pre, np.broadcast_to(ws, (units,)))
        out_shape = (*shape[:-1], units) if keep_num_dims else (shape[0], units)
        y = self.calibrated(pre, act, out_shape)
        self.op(
            "FULLY_CONNECTED",
            [x, w_idx, b_idx],
            [y],
            fused_activation_function=act,
            keep_num_dims=keep_num_dims,
        )
        return y

    # ---- elementwise / shape ops ------------------------------------------------------------
    def binary(self, name: str, a: int, b: int, act: str = "NONE") -> int:
        va, vb = self.samples[a], self.samples[b]
        v = va + vb if name == "ADD" else (va - vb if name == "SUB" else va * vb)
        if act != "NONE" and v.max() <= 0.0:
            act = "NONE"  # a fused ReLU would make the output constant
        y = self.calibrated(v, act)
        self.op(name, [a, b], [y], fused_activation_function=act)
        return y

    def pool(
        self,
        name: str,
        x: int,
        filt: tuple[int, int] | None = None,
        stride: tuple[int, int] | None = None,
        padding: str | None = None,
    ) -> int:
        r = self.rng
        _, h, w, c = self.shape(x)
        fh, fw = filt or (int(r.integers(1, min(h, 3) + 1)), int(r.integers(1, min(w, 3) + 1)))
        sh, sw = stride or (int(r.integers(1, 3)), int(r.integers(1, 3)))
        padding = padding or _pick_padding(r, h, w, fh, fw, 1, 1)
        xs = self.samples[x]
        if name == "MAX_POOL_2D":
            taps, oh, ow = _windows(xs, fh, fw, sh, sw, 1, 1, padding, value=-np.inf)
            v = np.max([sl for _, _, sl in taps], axis=0)
        else:  # TFLite averages over the valid (unpadded) taps only
            taps, oh, ow = _windows(xs, fh, fw, sh, sw, 1, 1, padding, value=np.nan)
            v = np.nanmean([sl for _, _, sl in taps], axis=0)
        y = self.like(x, (1, oh, ow, c), v)
        self.op(
            name,
            [x],
            [y],
            padding=padding,
            stride_w=sw,
            stride_h=sh,
            filter_width=fw,
            filter_height=fh,
            fused_activation_function="NONE",
        )
        return y

    def softmax(self, x: int, beta: float = 1.0) -> int:
        z = beta * self.samples[x]
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        y = self.act(self.shape(x), *SOFTMAX_QPARAMS, e / e.sum(axis=-1, keepdims=True))
        self.op("SOFTMAX", [x], [y], beta=beta)
        return y

    def logistic(self, x: int) -> int:
        y = self.act(self.shape(x), *SOFTMAX_QPARAMS, 1.0 / (1.0 + np.exp(-self.samples[x])))
        self.op("LOGISTIC", [x], [y])
        return y

    def reshape(self, x: int, new_shape: Sequence[int], shape_input: bool = True) -> int:
        y = self.like(x, tuple(new_shape))
        inputs = [x, self.int32_const(list(new_shape))] if shape_input else [x]
        self.op("RESHAPE", inputs, [y], new_shape=list(new_shape))
        return y

    def concat(self, xs: list[int], axis: int) -> int:
        """Concatenate; inputs must share quantization (the output takes the first one's)."""
        shapes = [self.shape(i) for i in xs]
        ax = axis % len(shapes[0])
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        if ax == 0:  # the batch grows: samples only model batch 1, draw fresh ones
            y = self.act(tuple(out), *self.qp(xs[0]))
        else:
            y = self.like(xs[0], tuple(out), np.concatenate([self.samples[i] for i in xs], axis=ax))
        self.op("CONCATENATION", xs, [y], axis=axis, fused_activation_function="NONE")
        return y

    def mean(self, x: int, axes: Sequence[int], keep_dims: bool) -> int:
        shape = self.shape(x)
        axes_n = tuple(sorted(a % len(shape) for a in axes))
        v = self.samples[x].mean(axis=axes_n, keepdims=True)
        if keep_dims:
            out_shape = tuple(1 if i in axes_n else d for i, d in enumerate(shape))
        else:
            out_shape = tuple(d for i, d in enumerate(shape) if i not in axes_n)
        v = v.reshape((N_SAMPLES, *out_shape[1:]))
        y = self.calibrated(v)
        self.op("MEAN", [x, self.int32_const(list(axes))], [y], keep_dims=keep_dims)
        return y

    def pad(self, x: int, pads: np.ndarray) -> int:
        shape = self.shape(x)
        v = np.pad(self.samples[x], [(0, 0), *(tuple(int(p) for p in row) for row in pads[1:])])
        y = self.like(x, tuple(int(d + p.sum()) for d, p in zip(shape, pads, strict=True)), v)
        self.op("PAD", [x, self.const(pads, "int32")], [y])
        return y


def _pick_padding(r: np.random.Generator, h: int, w: int, kh: int, kw: int, dh: int, dw: int) -> str:
    valid_ok = (kh - 1) * dh + 1 <= h and (kw - 1) * dw + 1 <= w
    return "VALID" if valid_ok and r.random() < 0.5 else "SAME"


def _out_hw(
    h: int, w: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, padding: str
) -> tuple[int, int]:
    if padding == "SAME":
        return -(-h // sh), -(-w // sw)
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    return (h - ekh) // sh + 1, (w - ekw) // sw + 1


def _rand_nhwc(
    r: np.random.Generator, hw: tuple[int, int] = (3, 12), c: tuple[int, int] = (1, 8)
) -> tuple[int, int, int, int]:
    return (
        1,
        int(r.integers(hw[0], hw[1] + 1)),
        int(r.integers(hw[0], hw[1] + 1)),
        int(r.integers(c[0], c[1] + 1)),
    )


# ------------------------------------------------------------------------------------------------
# one generator per op


def random_conv2d(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if rng.random() < 0.3 else (1, 1)
    stride = (1, 1) if dil != (1, 1) else None
    y = g.conv2d(x, dilation=dil, stride=stride)
    return g.spec([x], [y], "conv2d")


def random_depthwise_conv2d(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if rng.random() < 0.3 else (1, 1)
    stride = (1, 1) if dil != (1, 1) else None
    y = g.depthwise(x, dilation=dil, stride=stride)
    return g.spec([x], [y], "depthwise_conv2d")


def random_fully_connected(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    kind = int(rng.integers(0, 3))
    if kind == 0:
        shape: tuple[int, ...] = (int(rng.integers(1, 3)), int(rng.integers(1, 33)))
    elif kind == 1:
        shape = _rand_nhwc(rng, (1, 4), (1, 6))  # flattened by FC
    else:
        shape = (1, int(rng.integers(1, 5)), int(rng.integers(1, 17)))
    x = g.input(shape)
    y = g.fully_connected(
        x, per_channel=bool(rng.random() < 0.5), keep_num_dims=kind == 2, bias=bool(rng.random() < 0.8)
    )
    return g.spec([x], [y], "fully_connected")


def _random_binary(rng: np.random.Generator, name: str) -> ModelSpec:
    g = Graph(rng)
    shape = _rand_nhwc(rng, (1, 6))
    a = g.input(shape)
    b_shape = shape if rng.random() < 0.6 else (1, 1, 1, shape[3])
    b = g.input(b_shape)
    acts = ("NONE", "RELU", "RELU6") if name != "MUL" else ("NONE", "RELU")
    y = g.binary(name, a, b, act=str(rng.choice(acts)))
    return g.spec([a, b], [y], name.lower())


def random_add(rng: np.random.Generator) -> ModelSpec:
    return _random_binary(rng, "ADD")


def random_sub(rng: np.random.Generator) -> ModelSpec:
    return _random_binary(rng, "SUB")


def random_mul(rng: np.random.Generator) -> ModelSpec:
    return _random_binary(rng, "MUL")


def random_average_pool2d(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng, (2, 10)))
    y = g.pool("AVERAGE_POOL_2D", x)
    return g.spec([x], [y], "average_pool2d")


def random_max_pool2d(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng, (2, 10)))
    y = g.pool("MAX_POOL_2D", x)
    return g.spec([x], [y], "max_pool2d")


def _logit_input(g: Graph, shape: Sequence[int], max_half: float = 10.0) -> int:
    half = float(g.rng.uniform(2.0, max_half))
    scale, zp = qparams_for_range(-half * float(g.rng.uniform(0.5, 1.0)), half)
    return g.act(shape, scale, zp)


def random_softmax(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    shape = (1, int(rng.integers(2, 33))) if rng.random() < 0.6 else _rand_nhwc(rng, (1, 4), (2, 10))
    x = _logit_input(g, shape)
    y = g.softmax(x, beta=float(rng.choice([1.0, 1.0, 0.5, 2.0])))
    return g.spec([x], [y], "softmax")


def random_logistic(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = _logit_input(g, _rand_nhwc(rng, (1, 6)), max_half=6.0)
    y = g.logistic(x)
    return g.spec([x], [y], "logistic")


def random_reshape(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    shape = _rand_nhwc(rng, (1, 6))
    x = g.input(shape)
    n = int(np.prod(shape))
    new_shape = [1, n] if rng.random() < 0.5 else [1, shape[1] * shape[2], shape[3]]
    y = g.reshape(x, new_shape, shape_input=bool(rng.random() < 0.7))
    return g.spec([x], [y], "reshape")


def random_squeeze(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    c = int(rng.integers(2, 17))
    x = g.input((1, 1, 1, c))
    dims = [[1, 2], [], [0, 1, 2], [-3, -2]][int(rng.integers(0, 4))]
    out_shape = (c,) if dims in ([], [0, 1, 2]) else (1, c)
    y = g.like(x, out_shape)
    g.op("SQUEEZE", [x], [y], squeeze_dims=dims)
    return g.spec([x], [y], "squeeze")


def random_concatenation(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    base = _rand_nhwc(rng, (1, 6))
    axis = int(rng.integers(-1, 4))
    ax = axis % 4
    n = int(rng.integers(2, 4))
    first = g.input(tuple(base))
    xs = [first]
    for _ in range(n - 1):
        s = list(base)
        if ax != 0:
            s[ax] = int(rng.integers(1, 6))
        xs.append(g.act(tuple(s), *g.qp(first)))
    y = g.concat(xs, axis)
    return g.spec(xs, [y], "concatenation")


def random_mean(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng, (1, 8)))
    axes = [[1, 2], [1, 2], [1], [2], [3], [-1]][int(rng.integers(0, 6))]
    y = g.mean(x, axes, keep_dims=bool(rng.random() < 0.5))
    return g.spec([x], [y], "mean")


def random_pad(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    shape = _rand_nhwc(rng, (1, 6))
    x = g.input(shape)
    pads = np.zeros((4, 2), dtype=np.int32)
    pads[1:3] = rng.integers(0, 3, size=(2, 2))
    if rng.random() < 0.3:
        pads[3] = rng.integers(0, 2, size=2)
    y = g.pad(x, pads)
    return g.spec([x], [y], "pad")


def _random_relu(rng: np.random.Generator, name: str) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng, (1, 6)))
    lo, hi = (np.array([-128, 127]) - g.qp(x)[1]) * g.qp(x)[0]
    hi = float(hi) if name == "RELU" else min(float(hi), 6.0)
    if hi <= 0.0:  # an all-negative input range: RELU of it is constant, widen it
        hi = 1.0
    scale, zp = qparams_for_range(0.0, hi * float(rng.uniform(0.8, 1.2)))
    y = g.act(g.shape(x), scale, zp)
    g.op(name, [x], [y])
    return g.spec([x], [y], name.lower())


def random_relu(rng: np.random.Generator) -> ModelSpec:
    return _random_relu(rng, "RELU")


def random_relu6(rng: np.random.Generator) -> ModelSpec:
    return _random_relu(rng, "RELU6")


LEAKY_ALPHAS = (0.01, 0.1, 0.2, 0.3, 0.5, 1.5, -0.25, 0.0)


def random_leaky_relu(rng: np.random.Generator, alpha: float | None = None) -> ModelSpec:
    """LEAKY_RELU with an alpha from LEAKY_ALPHAS (also > 1, negative and 0), output calibrated."""
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng, (1, 6)))
    a = float(rng.choice(LEAKY_ALPHAS)) if alpha is None else float(alpha)
    v = g.samples[x]
    y = g.calibrated(np.where(v >= 0, v, a * v))
    g.op("LEAKY_RELU", [x], [y], alpha=a)
    return g.spec([x], [y], "leaky_relu")


def random_quantize(rng: np.random.Generator) -> ModelSpec:
    """float32 → int8 (half the time) or int8 → int8 requantization."""
    g = Graph(rng)
    shape = _rand_nhwc(rng, (1, 6))
    if rng.random() < 0.5:
        lo, hi = FLOAT_INPUT_RANGE
        f = float(rng.uniform(0.8, 1.3))
        x = g._add(TensorSpec("x", shape, "float32"))
        scale, zp = qparams_for_range(lo * f * float(rng.uniform(0.5, 1.0)), hi * f)
    else:
        x = g.input(shape)
        s_in, zp_in = g.qp(x)
        lo, hi = (-128 - zp_in) * s_in, (127 - zp_in) * s_in
        f = float(rng.uniform(0.6, 1.6))
        shift = float(rng.uniform(-0.2, 0.2)) * (hi - lo)
        scale, zp = qparams_for_range((lo + shift) * f, (hi + shift) * f)
    y = g.act(shape, scale, zp)
    g.op("QUANTIZE", [x], [y])
    return g.spec([x], [y], "quantize")


def random_dequantize(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    shape = _rand_nhwc(rng, (1, 6))
    x = g.input(shape)
    y = g._add(TensorSpec("y", shape, "float32"))
    g.op("DEQUANTIZE", [x], [y])
    return g.spec([x], [y], "dequantize")


def random_transpose(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    shape = _rand_nhwc(rng, (1, 6))
    x = g.input(shape)
    perm = [0, *(int(p) + 1 for p in rng.permutation(3))]
    y = g.like(x, tuple(shape[p] for p in perm))
    g.op("TRANSPOSE", [x, g.int32_const(perm)], [y])
    return g.spec([x], [y], "transpose")


def random_hard_swish(rng: np.random.Generator) -> ModelSpec:
    g = Graph(rng)
    x = g.input(_rand_nhwc(rng, (1, 6)))
    s_in, zp_in = g.qp(x)
    lo, hi = (-128 - zp_in) * s_in, (127 - zp_in) * s_in
    scale, zp = qparams_for_range(-0.375, max(hi, 0.5))  # hard_swish(x) ≥ -0.375
    del lo
    y = g.act(g.shape(x), scale, zp)
    g.op("HARD_SWISH", [x], [y])
    return g.spec([x], [y], "hard_swish")


def random_batch_matmul(rng: np.random.Generator) -> ModelSpec:
    """int8 activations × int8 activations, ``adj_y`` half the time (rhs stored as B×P×K)."""
    g = Graph(rng)
    b, m, k, p = (int(v) for v in rng.integers(1, 7, size=4))
    adj_y = bool(rng.random() < 0.5)
    lhs = g.input((1, b, m, k))
    rhs = g.input((1, b, p, k) if adj_y else (1, b, k, p))
    vr = g.samples[rhs]
    v = g.samples[lhs] @ (np.swapaxes(vr, -1, -2) if adj_y else vr)
    y = g.calibrated(v)
    g.op("BATCH_MATMUL", [lhs, rhs], [y], adj_x=False, adj_y=adj_y)
    return g.spec([lhs, rhs], [y], "batch_matmul")


# ------------------------------------------------------------------------------------------------
# multi-op graphs


def random_chain(rng: np.random.Generator, n_ops: int = 4) -> ModelSpec:
    """A small CNN: stem conv, ``n_ops`` random blocks, head (mean/pool+reshape) → FC → softmax.

    Blocks: depthwise conv, residual (conv + ADD), branch (two convs → CONCATENATION), pool
    (max/avg, stride 2), pointwise conv (with PAD first, sometimes), MUL gate by a logistic.
    """
    g = Graph(rng)
    x_in = g.input(_rand_nhwc(rng, (6, 12), (1, 4)))
    x = g.conv2d(x_in, cout=int(rng.integers(2, 9)), kernel=(3, 3), stride=(1, 1), padding="SAME")
    for _ in range(n_ops):
        _, h, w, c = g.shape(x)
        kind = str(rng.choice(["dw", "res", "branch", "pool", "pw", "gate"]))
        if kind == "pool" and min(h, w) < 2:
            kind = "dw"
        if kind == "dw":
            x = g.depthwise(x, multiplier=1, kernel=(3, 3), stride=(1, 1), padding="SAME")
        elif kind == "res":
            y = g.conv2d(x, cout=c, kernel=(3, 3), stride=(1, 1), padding="SAME")
            x = g.binary("ADD", x, y, act=str(rng.choice(["NONE", "RELU"])))
        elif kind == "branch":
            a = g.conv2d(x, cout=int(rng.integers(1, 6)), kernel=(1, 1), stride=(1, 1), padding="SAME")
            b = g.conv2d(x, cout=int(rng.integers(1, 6)), kernel=(3, 3), stride=(1, 1), padding="SAME")
            g.share_quantization([a, b])  # concatenation needs one quantization for all inputs
            x = g.concat([a, b], axis=3)
        elif kind == "pool":
            name = str(rng.choice(["MAX_POOL_2D", "AVERAGE_POOL_2D"]))
            x = g.pool(name, x, filt=(2, 2), stride=(2, 2), padding="SAME")
        elif kind == "pw":
            if rng.random() < 0.5:
                pads = np.array([[0, 0], [1, 1], [1, 1], [0, 0]], dtype=np.int32)
                x = g.conv2d(g.pad(x, pads), kernel=(3, 3), stride=(1, 1), padding="VALID")
            else:
                x = g.conv2d(x, kernel=(1, 1), stride=(1, 1), padding="SAME")
        else:  # gate: x * sigmoid(conv(x))
            logits = g.conv2d(x, cout=c, kernel=(1, 1), stride=(1, 1), padding="SAME", act="NONE")
            x = g.binary("MUL", x, g.logistic(logits))
    _, h, w, c = g.shape(x)
    if rng.random() < 0.5:
        x = g.mean(x, [1, 2], keep_dims=False)
    else:
        x = g.pool("AVERAGE_POOL_2D", x, filt=(h, w), stride=(1, 1), padding="VALID")
        x = g.reshape(x, [1, c])
    logits = g.fully_connected(x, units=int(rng.integers(2, 11)), act="NONE")
    y = g.softmax(logits)
    return g.spec([x_in], [y], f"chain{n_ops}")


OP_GENERATORS: dict[str, Callable[[np.random.Generator], ModelSpec]] = {
    "CONV_2D": random_conv2d,
    "DEPTHWISE_CONV_2D": random_depthwise_conv2d,
    "FULLY_CONNECTED": random_fully_connected,
    "ADD": random_add,
    "SUB": random_sub,
    "MUL": random_mul,
    "AVERAGE_POOL_2D": random_average_pool2d,
    "MAX_POOL_2D": random_max_pool2d,
    "SOFTMAX": random_softmax,
    "RESHAPE": random_reshape,
    "SQUEEZE": random_squeeze,
    "CONCATENATION": random_concatenation,
    "MEAN": random_mean,
    "PAD": random_pad,
    "LOGISTIC": random_logistic,
    "RELU": random_relu,
    "RELU6": random_relu6,
    "LEAKY_RELU": random_leaky_relu,
    "QUANTIZE": random_quantize,
    "DEQUANTIZE": random_dequantize,
    "TRANSPOSE": random_transpose,
    "HARD_SWISH": random_hard_swish,
    "BATCH_MATMUL": random_batch_matmul,
}


def random_inputs(spec: ModelSpec, rng: np.random.Generator) -> list[np.ndarray]:
    """Random inputs for ``spec``: int8 over the whole range, float32 over ``FLOAT_INPUT_RANGE``."""
    out: list[np.ndarray] = []
    for idx in spec.inputs:
        t = spec.tensors[idx]
        if t.dtype == "float32":
            out.append(rng.uniform(*FLOAT_INPUT_RANGE, size=t.shape).astype(np.float32))
        else:
            info = np.iinfo(t.dtype)
            out.append(rng.integers(info.min, info.max + 1, size=t.shape).astype(t.dtype))
    return out
