"""The TFLite writer: models built from specs load and run in the TFLM oracle, fields round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import ModelFormatError, UnsupportedOpError
from edgekit.tflite import schema
from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec, build_tflite
from tests.modelgen import OP_GENERATORS, random_chain, random_inputs

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
fb = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")

SEEDS = range(6)


def _run(spec: ModelSpec, seed: int, n: int = 3) -> list[np.ndarray]:
    it = runtime.Interpreter.from_bytes(build_tflite(spec))
    rng = np.random.default_rng(10_000 + seed)
    outs = []
    for _ in range(n):
        for i, x in enumerate(random_inputs(spec, rng)):
            it.set_input(x, i)
        it.invoke()
        outs.append(it.get_output(0).copy())
    return outs


def _check_outputs(spec: ModelSpec, outs: list[np.ndarray]) -> None:
    t = spec.tensors[spec.outputs[0]]
    for o in outs:
        assert o.shape == t.shape
        assert o.dtype == np.dtype(t.dtype)
    values = np.stack(outs)
    assert np.unique(values).size > 1, "degenerate output: every element has the same value"
    if t.dtype == "int8" and values.size >= 16:
        zp = t.zero_point[0] if t.zero_point else 0
        saturated = np.mean((values == 127) | ((values == -128) & (zp > -128)))
        assert saturated < 0.6, f"{saturated:.0%} of the outputs saturate"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", sorted(OP_GENERATORS))
def test_generated_op_runs_in_tflm(op: str, seed: int) -> None:
    spec = OP_GENERATORS[op](np.random.default_rng(seed))
    assert op in {o.op for o in spec.ops}
    _check_outputs(spec, _run(spec, seed))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_ops", [1, 3, 6])
def test_random_chain_runs_in_tflm(n_ops: int, seed: int) -> None:
    spec = random_chain(np.random.default_rng(seed), n_ops)
    assert len(spec.ops) >= n_ops + 3
    outs = _run(spec, seed)
    _check_outputs(spec, outs)
    probs = np.stack(outs).astype(np.float64) + 128.0  # softmax (1/256, -128) → 256·p
    assert np.all(np.abs(probs.sum(axis=-1) - 256.0) <= 2.0 * probs.shape[-1])


def test_generators_are_deterministic() -> None:
    for gen in OP_GENERATORS.values():
        a = build_tflite(gen(np.random.default_rng(3)))
        b = build_tflite(gen(np.random.default_rng(3)))
        assert a == b
    assert build_tflite(random_chain(np.random.default_rng(1), 4)) == build_tflite(
        random_chain(np.random.default_rng(1), 4)
    )


# ------------------------------------------------------------------------------------------------
# schema tables


def _members(cls: type) -> dict[str, int]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_")}


@pytest.mark.parametrize(
    ("mine", "ref"),
    [
        (schema.BUILTIN_OPERATORS, "BuiltinOperator"),
        (schema.BUILTIN_OPTIONS, "BuiltinOptions"),
        (schema.TENSOR_TYPES, "TensorType"),
        (schema.PADDING, "Padding"),
        (schema.ACTIVATION_FUNCTIONS, "ActivationFunctionType"),
    ],
)
def test_enum_tables_match_the_tflm_schema(mine: dict[str, int], ref: str) -> None:
    theirs = _members(getattr(fb, ref))
    assert {k: theirs[k] for k in mine if k in theirs} == {k: mine[k] for k in mine if k in theirs}
    assert set(mine) <= set(theirs)
    assert len(mine) >= len(theirs) - 10


def test_op_options_tables_are_known_options() -> None:
    for op, table in schema.OP_OPTIONS.items():
        assert op in schema.BUILTIN_OPERATORS
        assert table in schema.BUILTIN_OPTIONS and table in schema.OPTIONS_FIELDS


# ------------------------------------------------------------------------------------------------
# field-level round trip through the flatbuffer schema generated code


def _int8(name: str, shape: tuple[int, ...], scale: float = 0.1, zp: int = 0) -> TensorSpec:
    return TensorSpec(name, shape, "int8", scale=[scale], zero_point=[zp])


def _parse(spec: ModelSpec) -> object:
    buf = build_tflite(spec)
    assert buf[4:8] == b"TFL3"
    return fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(buf, 0))


def test_model_structure_round_trips() -> None:
    w = np.arange(-12, 12, dtype=np.int8).reshape(3, 2, 2, 2)
    bias = np.array([5, -7, 1 << 20], dtype=np.int32)
    spec = ModelSpec(
        tensors=[
            _int8("in", (1, 5, 5, 2), 0.5, -3),
            TensorSpec("w", w.shape, "int8", data=w, scale=[0.1, 0.2, 0.3], zero_point=[0, 0, 0]),
            TensorSpec("b", (3,), "int32", data=bias, scale=[0.05, 0.1, 0.15], zero_point=[0, 0, 0]),
            _int8("conv", (1, 2, 2, 3), 0.25, 4),
            TensorSpec("f", (1, 2, 2, 3), "float32", shape_signature=(-1, 2, 2, 3)),
        ],
        ops=[
            OpSpec(
                "CONV_2D",
                [0, 1, 2],
                [3],
                {
                    "padding": "VALID",
                    "stride_w": 2,
                    "stride_h": 3,
                    "fused_activation_function": "RELU6",
                    "dilation_w_factor": 2,
                },
            ),
            OpSpec("DEQUANTIZE", [3], [4]),
        ],
        inputs=[0],
        outputs=[4],
        description="roundtrip",
    )
    m = _parse(spec)
    assert m.version == 3 and m.description == b"roundtrip"
    assert len(m.buffers) == 3 and m.buffers[0].data is None  # sentinel + two constants
    assert bytes(m.buffers[1].data) == w.tobytes() and bytes(m.buffers[2].data) == bias.tobytes()
    assert [(c.deprecatedBuiltinCode, c.builtinCode) for c in m.operatorCodes] == [(3, 3), (6, 6)]
    sg = m.subgraphs[0]
    assert list(sg.inputs) == [0] and list(sg.outputs) == [4]
    assert [t.buffer for t in sg.tensors] == [0, 1, 2, 0, 0]
    assert [t.type for t in sg.tensors] == [9, 9, 2, 9, 0]
    assert list(sg.tensors[0].shape) == [1, 5, 5, 2] and sg.tensors[0].name == b"in"
    q = sg.tensors[1].quantization
    assert np.allclose(q.scale, [0.1, 0.2, 0.3]) and list(q.zeroPoint) == [0, 0, 0]
    assert list(sg.tensors[0].quantization.zeroPoint) == [-3]
    assert sg.tensors[4].quantization is None and list(sg.tensors[4].shapeSignature) == [-1, 2, 2, 3]
    conv = sg.operators[0]
    assert conv.builtinOptionsType == fb.BuiltinOptions.Conv2DOptions
    o = conv.builtinOptions
    assert (o.padding, o.strideW, o.strideH, o.fusedActivationFunction) == (1, 2, 3, 3)
    assert (o.dilationWFactor, o.dilationHFactor) == (2, 1)
    assert sg.operators[1].opcodeIndex == 1 and list(sg.operators[1].inputs) == [3]


def _single_op(op: str, options: dict, n_in: int = 1, extra: list[TensorSpec] | None = None) -> object:
    tensors = [_int8(f"x{i}", (1, 4)) for i in range(n_in + 1)] + (extra or [])
    ins = list(range(n_in)) + list(range(n_in + 1, n_in + 1 + len(extra or [])))
    m = _parse(ModelSpec(tensors, [OpSpec(op, ins, [n_in], options)], list(range(n_in)), [n_in]))
    return m


@pytest.mark.parametrize(
    ("op", "options", "table", "check"),
    [
        (
            "DEPTHWISE_CONV_2D",
            {"depth_multiplier": 3, "padding": "SAME", "dilation_h_factor": 2},
            "DepthwiseConv2DOptions",
            lambda o: (o.depthMultiplier, o.padding, o.dilationHFactor) == (3, 0, 2),
        ),
        (
            "FULLY_CONNECTED",
            {"keep_num_dims": True, "fused_activation_function": "RELU"},
            "FullyConnectedOptions",
            lambda o: (o.keepNumDims, o.fusedActivationFunction) == (True, 1),
        ),
        ("SOFTMAX", {"beta": 0.5}, "SoftmaxOptions", lambda o: o.beta == 0.5),
        ("RESHAPE", {"new_shape": [1, 2, 2]}, "ReshapeOptions", lambda o: list(o.newShape) == [1, 2, 2]),
        ("SQUEEZE", {"squeeze_dims": [1, -2]}, "SqueezeOptions", lambda o: list(o.squeezeDims) == [1, -2]),
        ("CONCATENATION", {"axis": -1}, "ConcatenationOptions", lambda o: o.axis == -1),
        ("MEAN", {"keep_dims": True}, "ReducerOptions", lambda o: o.keepDims is True),
        (
            "AVERAGE_POOL_2D",
            {"filter_width": 3, "filter_height": 2, "stride_w": 2},
            "Pool2DOptions",
            lambda o: (o.filterWidth, o.filterHeight, o.strideW) == (3, 2, 2),
        ),
        ("MAX_POOL_2D", {"padding": "VALID"}, "Pool2DOptions", lambda o: o.padding == 1),
        (
            "ADD",
            {"fused_activation_function": "RELU_N1_TO_1"},
            "AddOptions",
            lambda o: o.fusedActivationFunction == 2 and o.potScaleInt16 is True,
        ),
        ("SUB", {"pot_scale_int16": False}, "SubOptions", lambda o: o.potScaleInt16 is False),
        (
            "MUL",
            {"fused_activation_function": "TANH"},
            "MulOptions",
            lambda o: o.fusedActivationFunction == 4,
        ),
        ("BATCH_MATMUL", {"adj_y": True}, "BatchMatMulOptions", lambda o: (o.adjX, o.adjY) == (False, True)),
        ("GELU", {"approximate": True}, "GeluOptions", lambda o: o.approximate is True),
        ("PAD", {}, "PadOptions", lambda o: True),
        ("TRANSPOSE", {}, "TransposeOptions", lambda o: True),
        ("QUANTIZE", {}, "QuantizeOptions", lambda o: True),
        ("DEQUANTIZE", {}, "DequantizeOptions", lambda o: True),
        ("HARD_SWISH", {}, "HardSwishOptions", lambda o: True),
    ],
)
def test_builtin_options_round_trip(op: str, options: dict, table: str, check: object) -> None:
    m = _single_op(op, options)
    oper = m.subgraphs[0].operators[0]
    assert oper.builtinOptionsType == getattr(fb.BuiltinOptions, table) == schema.BUILTIN_OPTIONS[table]
    assert check(oper.builtinOptions)  # type: ignore[operator]


@pytest.mark.parametrize("op", ["LOGISTIC", "RELU", "RELU6"])
def test_ops_without_options_write_none(op: str) -> None:
    oper = _single_op(op, {}).subgraphs[0].operators[0]
    assert oper.builtinOptionsType == 0


def test_extended_opcode_uses_placeholder_in_deprecated_field() -> None:
    code = _single_op("GELU", {}).operatorCodes[0]
    assert (code.deprecatedBuiltinCode, code.builtinCode) == (127, 150)
    assert runtime.get_builtin_code_from_operator_code(code) == schema.BUILTIN_OPERATORS["GELU"]


def test_opcodes_are_shared_between_ops() -> None:
    t = [_int8(f"t{i}", (1, 4)) for i in range(4)]
    ops = [OpSpec("RELU", [0], [1]), OpSpec("RELU6", [1], [2]), OpSpec("RELU", [2], [3])]
    m = _parse(ModelSpec(t, ops, [0], [3]))
    assert [c.builtinCode for c in m.operatorCodes] == [19, 21]
    assert [o.opcodeIndex for o in m.subgraphs[0].operators] == [0, 1, 0]


# ------------------------------------------------------------------------------------------------
# exact semantics of data-movement ops (checks shapes, options and constant data end to end)


def _invoke(spec: ModelSpec, *xs: np.ndarray) -> np.ndarray:
    it = runtime.Interpreter.from_bytes(build_tflite(spec))
    for i, x in enumerate(xs):
        it.set_input(x, i)
    it.invoke()
    return it.get_output(0)


def test_exact_pad_transpose_concat_maxpool() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(1, 5, 4, 3)).astype(np.int8)
    pads = np.array([[0, 0], [1, 2], [0, 1], [0, 0]], dtype=np.int32)
    spec = ModelSpec(
        [
            _int8("x", x.shape, 0.1, 7),
            TensorSpec("p", (4, 2), "int32", data=pads),
            _int8("y", (1, 8, 5, 3), 0.1, 7),
        ],
        [OpSpec("PAD", [0, 1], [2])],
        [0],
        [2],
    )
    assert np.array_equal(_invoke(spec, x), np.pad(x, pads, constant_values=7))

    perm = np.array([0, 3, 1, 2], dtype=np.int32)
    spec = ModelSpec(
        [_int8("x", x.shape), TensorSpec("perm", (4,), "int32", data=perm), _int8("y", (1, 3, 5, 4))],
        [OpSpec("TRANSPOSE", [0, 1], [2])],
        [0],
        [2],
    )
    assert np.array_equal(_invoke(spec, x), x.transpose(perm))

    x2 = rng.integers(-128, 128, size=(1, 5, 4, 2)).astype(np.int8)
    spec = ModelSpec(
        [_int8("a", x.shape), _int8("b", x2.shape), _int8("y", (1, 5, 4, 5))],
        [OpSpec("CONCATENATION", [0, 1], [2], {"axis": -1})],
        [0, 1],
        [2],
    )
    assert np.array_equal(_invoke(spec, x, x2), np.concatenate([x, x2], axis=-1))

    spec = ModelSpec(
        [_int8("x", x.shape), _int8("y", (1, 2, 2, 3))],
        [
            OpSpec(
                "MAX_POOL_2D",
                [0],
                [1],
                {"padding": "VALID", "stride_w": 2, "stride_h": 2, "filter_width": 2, "filter_height": 3},
            )
        ],
        [0],
        [1],
    )
    ref = np.stack(
        [
            np.stack([x[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 2].max(axis=(0, 1)) for j in range(2)])
            for i in range(2)
        ]
    )[None]
    assert np.array_equal(_invoke(spec, x), ref)


def test_exact_quantize_dequantize() -> None:
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(1, 2, 3, 4)
    spec = ModelSpec(
        [
            TensorSpec("x", x.shape, "float32"),
            _int8("q", x.shape, 0.03, -5),
            TensorSpec("y", x.shape, "float32"),
        ],
        [OpSpec("QUANTIZE", [0], [1]), OpSpec("DEQUANTIZE", [1], [2])],
        [0],
        [2],
    )
    q = np.clip(np.round(x / np.float32(0.03)) - 5, -128, 127)
    assert np.allclose(_invoke(spec, x), (q + 5) * np.float32(0.03), atol=1e-6)


# ------------------------------------------------------------------------------------------------
# errors


def test_invalid_specs_raise_edgekit_errors() -> None:
    ok = [_int8("x", (1, 4)), _int8("y", (1, 4))]
    with pytest.raises(UnsupportedOpError, match="NOT_AN_OP"):
        build_tflite(ModelSpec(ok, [OpSpec("NOT_AN_OP", [0], [1])], [0], [1]))
    with pytest.raises(UnsupportedOpError, match="stride"):
        build_tflite(ModelSpec(ok, [OpSpec("RELU", [0], [1], {"stride_w": 2})], [0], [1]))
    with pytest.raises(UnsupportedOpError, match="padding"):
        build_tflite(ModelSpec(ok, [OpSpec("MAX_POOL_2D", [0], [1], {"padding": "FULL"})], [0], [1]))
    with pytest.raises(ModelFormatError, match="out of range"):
        build_tflite(ModelSpec(ok, [OpSpec("RELU", [0], [5])], [0], [1]))
    with pytest.raises(ModelFormatError, match="elements"):
        bad = TensorSpec("w", (2, 2), "int8", data=np.zeros(3, np.int8))
        build_tflite(ModelSpec([*ok, bad], [OpSpec("RELU", [0], [1])], [0], [1]))
    with pytest.raises(ModelFormatError, match="per-channel"):
        bad = TensorSpec(
            "w", (2, 2), "int8", data=np.zeros((2, 2), np.int8), scale=[1, 1, 1], zero_point=[0] * 3
        )
        build_tflite(ModelSpec([*ok, bad], [OpSpec("RELU", [0], [1])], [0], [1]))
    with pytest.raises(ModelFormatError, match="dtype"):
        build_tflite(ModelSpec([TensorSpec("x", (1,), "complex64")], [], [0], [0]))
    with pytest.raises(ModelFormatError, match="quantize"):
        bad = TensorSpec("w", (2,), "int8", data=np.array([0.5, 1.5]))
        build_tflite(ModelSpec([*ok, bad], [OpSpec("RELU", [0], [1])], [0], [1]))
