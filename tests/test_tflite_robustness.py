"""TFLite files that TFLite Micro reads but edgekit lacks an op or a type for.

Each model is built here with the writer. The import succeeds (or refuses with a one-line
:class:`EdgekitError`), ``edgekit analyze`` works, and ``edgekit generate`` exits with code 2 and
one ``error: ...`` line naming the op or type and the node: never "malformed", never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import EdgekitError, ModelFormatError, UnsupportedOpError
from edgekit.frontends.tflite import parse_tflite
from edgekit.lower import lower_graph
from edgekit.tflite import writer
from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec, build_tflite

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]


def _int8(name: str, shape: tuple[int, ...], scale: float = 0.1, zp: int = 0) -> TensorSpec:
    return TensorSpec(name, shape, "int8", scale=[scale], zero_point=[zp])


def _writable(monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    """Let the writer write `dtype` (it refuses types edgekit never writes itself, e.g. complex64)."""
    if dtype not in writer.DTYPES:
        monkeypatch.setattr(writer, "DTYPES", (*writer.DTYPES, dtype))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([*EDGEKIT, *args], capture_output=True, text=True, env=env, timeout=300)


def _analyze_and_refuse(tmp_path: Path, data: bytes, *expected: str) -> str:
    """`edgekit analyze` works; `edgekit generate` fails with one clean line holding `expected`."""
    model = tmp_path / "m.tflite"
    model.write_bytes(data)
    proc = _cli("analyze", str(model), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _cli("generate", str(model), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "malformed" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _refuse_lowering(data: bytes, *expected: str) -> str:
    graph = parse_tflite(data)
    with pytest.raises(EdgekitError) as info:
        lower_graph(graph)
    msg = str(info.value)
    assert "\n" not in msg
    for text in expected:
        assert text in msg, msg
    return msg


# --------------------------------------------------------------------------------------------
# finding 1: variable (state) tensors


def _svdf_model() -> bytes:
    """TFLM's int8 SVDF: input [1, 4], features [2, 4], time [2, 3] int16, bias [2] (scale = state
    scale · time scale), state int16 [1, 6] (a variable tensor with an empty buffer), output [1, 2];
    rank 1."""
    rng = np.random.default_rng(3)
    tensors = [
        _int8("x", (1, 4), 0.05),
        TensorSpec("features", (2, 4), "int8", data=rng.integers(-127, 128, (2, 4)).astype(np.int8),
                   scale=[0.01], zero_point=[0]),
        TensorSpec("time", (2, 3), "int16", data=rng.integers(-3000, 3000, (2, 3)).astype(np.int16),
                   scale=[1e-4], zero_point=[0]),
        TensorSpec("bias", (2,), "int32", data=np.zeros(2, np.int32), scale=[1e-7], zero_point=[0]),
        TensorSpec("state", (1, 6), "int16", scale=[1e-3], zero_point=[0], is_variable=True),
        _int8("y", (1, 2), 0.1),
    ]
    return build_tflite(ModelSpec(tensors=tensors, ops=[OpSpec("SVDF", [0, 1, 2, 3, 4], [5], {"rank": 1})],
                                  inputs=[0], outputs=[5]))


def test_variable_tensor_is_read_and_imports() -> None:
    graph = parse_tflite(_svdf_model())
    state = graph.tensors[4]
    assert state.is_variable and not state.is_const
    assert not any(t.is_variable for t in graph.tensors if t.id != 4)
    assert graph.activation_inputs(graph.nodes[0]) == [0]


def test_variable_tensor_model_refused_at_lowering() -> None:
    with pytest.raises(UnsupportedOpError, match="unsupported op SVDF at node 0"):
        lower_graph(parse_tflite(_svdf_model()))


def test_variable_tensor_model_cli(tmp_path: Path) -> None:
    _analyze_and_refuse(tmp_path, _svdf_model(), "unsupported op SVDF at node 0")


def test_tflm_runs_the_svdf_model() -> None:
    oracle = pytest.importorskip("tests.oracle")
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    out = oracle.tflm_run(_svdf_model(), oracle.random_int8((4,), 2, seed=0))
    assert out.shape == (2, 2)


# --------------------------------------------------------------------------------------------
# finding 2: a per-channel rank-1 tensor (a bias) with quantized_dimension != 0


def _fc_model(bias_axis: int = 0, in_scale: float = 0.05, w_scales: tuple[float, ...] = (0.01, 0.02, 0.03),
              out_scale: float = 0.1, bias_scales: int = 3) -> ModelSpec:
    rng = np.random.default_rng(0)
    tensors = [
        _int8("x", (1, 4), in_scale),
        TensorSpec("w", (3, 4), "int8", data=rng.integers(-127, 128, (3, 4)).astype(np.int8), scale=list(w_scales),
                   zero_point=[0] * len(w_scales)),
        TensorSpec("b", (3,), "int32", data=np.arange(3, dtype=np.int32), scale=[5e-4] * bias_scales,
                   zero_point=[0] * bias_scales, quantized_dimension=bias_axis),
        _int8("y", (1, 3), out_scale),
    ]
    return ModelSpec(tensors=tensors, ops=[OpSpec("FULLY_CONNECTED", [0, 1, 2], [3])], inputs=[0], outputs=[3])


def test_rank1_per_channel_axis_is_axis_0() -> None:
    graph = parse_tflite(build_tflite(_fc_model(bias_axis=3)))
    bias = graph.tensors[2]
    assert bias.quant is not None and bias.quant.axis == 0 and bias.quant.scale.size == 3
    lower_graph(graph)  # lowers like the same model with axis 0


def test_tflm_runs_the_rank1_axis_3_model() -> None:
    oracle = pytest.importorskip("tests.oracle")
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    batch = oracle.random_int8((4,), 3, seed=1)
    ref = oracle.tflm_run(build_tflite(_fc_model(bias_axis=0)), batch)
    np.testing.assert_array_equal(oracle.tflm_run(build_tflite(_fc_model(bias_axis=3)), batch), ref)


def test_inconsistent_scale_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_check_tensor", lambda i, t: None)  # the writer refuses to write it
    expected = r"tensor 2 \(b\) has 2 quantization scales.*size 3; re-convert the model"
    with pytest.raises(ModelFormatError, match=expected):
        parse_tflite(build_tflite(_fc_model(bias_scales=2)))


# --------------------------------------------------------------------------------------------
# finding 3: tensor types edgekit has no kernels for


def _reshape_model(dtype: str) -> bytes:
    tensors = [TensorSpec("x", (1, 4), dtype), TensorSpec("shape", (1,), "int32", data=np.array([4], np.int32)),
               TensorSpec("y", (4,), dtype)]
    return build_tflite(ModelSpec(tensors=tensors, ops=[OpSpec("RESHAPE", [0, 1], [2])], inputs=[0], outputs=[2]))


@pytest.mark.parametrize("dtype, nbytes", [("uint32", 16), ("uint16", 8), ("uint64", 32), ("float64", 32),
                                           ("complex64", 32)])
def test_activation_type_without_kernels(dtype: str, nbytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _writable(monkeypatch, dtype)
    graph = parse_tflite(_reshape_model(dtype))
    assert graph.tensors[0].dtype == dtype and graph.tensors[0].nbytes == nbytes
    _refuse_lowering(_reshape_model(dtype), f"unsupported type {dtype} at node 0 (RESHAPE)", "int8")


def test_activation_type_without_kernels_cli(tmp_path: Path) -> None:
    _analyze_and_refuse(tmp_path, _reshape_model("uint32"), "unsupported type uint32 at node 0 (RESHAPE)")


def _add_const_model(dtype: str, values: np.ndarray) -> bytes:
    tensors = [_int8("x", (1, 4)), TensorSpec("c", (1, 4), dtype, data=values), _int8("y", (1, 4))]
    return build_tflite(ModelSpec(tensors=tensors, ops=[OpSpec("ADD", [0, 1], [2])], inputs=[0], outputs=[2]))


_CONSTS = [
    ("uint16", np.array([[0, 1, 40000, 65535]], np.uint16), 8),
    ("uint32", np.array([[0, 1, 3_000_000_000, 7]], np.uint32), 16),
    ("uint64", np.array([[0, 1, 2**63, 7]], np.uint64), 32),
    ("float64", np.array([[0.5, -1.25, 1e300, 3.0]], np.float64), 32),
    ("complex64", np.array([[1 + 2j, -1j, 0, 3]], np.complex64), 32),
    ("float16", np.array([[0.5, -1.0, 2.0, 3.0]], np.float16), 8),
    ("int4", np.array([[-8, 7, 0, -1]], np.int8), 2),
    ("int4", np.array([[1, -2, 3]], np.int8).reshape(1, 3), 2),  # an odd count: the last byte is half used
]


@pytest.mark.parametrize("dtype, values, nbytes", _CONSTS, ids=[f"{c[0]}-{c[1].size}" for c in _CONSTS])
def test_constant_of_each_type_is_read(dtype: str, values: np.ndarray, nbytes: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _writable(monkeypatch, dtype)
    if values.size == 3:  # ADD's operand of shape (1, 3)
        tensors = [_int8("x", (1, 3)), TensorSpec("c", (1, 3), dtype, data=values), _int8("y", (1, 3))]
        data = build_tflite(ModelSpec(tensors=tensors, ops=[OpSpec("ADD", [0, 1], [2])], inputs=[0], outputs=[2]))
    else:
        data = _add_const_model(dtype, values)
    graph = parse_tflite(data)
    c = graph.tensors[1]
    assert c.dtype == dtype and c.is_const and c.nbytes == nbytes
    np.testing.assert_array_equal(c.data, values)
    assert graph.weights_bytes() == nbytes
    _refuse_lowering(data, "ADD at node 0", f"'c' is {dtype}")


def test_constant_type_without_kernels_cli(tmp_path: Path) -> None:
    _analyze_and_refuse(tmp_path, _add_const_model("uint32", np.arange(4, dtype=np.uint32).reshape(1, 4)),
                        "ADD at node 0", "'c' is uint32")


def test_int4_filter_is_read_and_runs(tmp_path: Path) -> None:
    spec = _fc_model()
    w = spec.tensors[1]
    w.dtype, w.data = "int4", np.clip(w.data, -8, 7)
    data = build_tflite(spec)
    graph = parse_tflite(data)
    np.testing.assert_array_equal(graph.tensors[1].data, w.data)
    assert graph.tensors[1].nbytes == 6
    from edgekit.pipeline import compile_model
    from edgekit.quant.int_exec import IntExecutor

    x = np.random.default_rng(1).integers(-128, 128, (4, 1, 4)).astype(np.int8)
    host = compile_model(graph, "fc4", tmp_path / "host")
    got = np.concatenate([host.run(x[i]) for i in range(len(x))]).reshape(len(x), -1)
    want = np.concatenate([IntExecutor(graph).run(x[i])[0] for i in range(len(x))]).reshape(len(x), -1)
    np.testing.assert_array_equal(got, want)


def test_type_without_a_size_is_refused_at_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _writable(monkeypatch, "string")
    data = _reshape_model("string")
    with pytest.raises(UnsupportedOpError, match=r"^unsupported type string at node 0 \(RESHAPE\): tensor 0 \(x\)"):
        parse_tflite(data)
    model = tmp_path / "m.tflite"
    model.write_bytes(data)
    for args in (("analyze", str(model)), ("generate", str(model), "-o", str(tmp_path / "out"))):
        proc = _cli(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        assert "unsupported type string at node 0 (RESHAPE)" in proc.stderr


def test_kernel_dtypes_are_what_the_emitter_and_host_hold() -> None:
    from edgekit.emit import _EK_DTYPES
    from edgekit.ir.graph import KERNEL_DTYPES
    from edgekit.toolchain.host import _NP_DTYPES

    assert set(KERNEL_DTYPES) == set(_EK_DTYPES) == set(_NP_DTYPES)


# --------------------------------------------------------------------------------------------
# finding 4: zero, negative and non-finite quantization scales


def _two_fc(mid_scale: float) -> ModelSpec:
    spec = _fc_model()
    rng = np.random.default_rng(1)
    spec.tensors[3] = _int8("t", (1, 3), mid_scale)
    spec.tensors += [TensorSpec("w2", (2, 3), "int8", data=rng.integers(-127, 128, (2, 3)).astype(np.int8),
                                scale=[0.02], zero_point=[0]), _int8("y", (1, 2), 0.1)]
    spec.ops.append(OpSpec("FULLY_CONNECTED", [3, 4, -1], [5]))
    spec.outputs = [5]
    return spec


def _conv(w_scales: list[float]) -> ModelSpec:
    rng = np.random.default_rng(2)
    tensors = [
        _int8("x", (1, 4, 4, 2), 0.05),
        TensorSpec("w", (2, 1, 1, 2), "int8", data=rng.integers(-127, 128, (2, 1, 1, 2)).astype(np.int8),
                   scale=w_scales, zero_point=[0] * len(w_scales)),
        _int8("y", (1, 4, 4, 2), 0.1),
    ]
    options = {"padding": "SAME", "stride_w": 1, "stride_h": 1}
    return ModelSpec(tensors=tensors, ops=[OpSpec("CONV_2D", [0, 1, -1], [2], options)], inputs=[0], outputs=[2])


_SCALES = {
    "input-zero": (_fc_model(in_scale=0.0), "input tensor 'x' has quantization scale 0; re-convert the model"),
    "output-negative": (_fc_model(out_scale=-0.1), "output tensor 'y' has quantization scale -0.1"),
    "activation-zero": (_two_fc(0.0), "FULLY_CONNECTED at node 0: output tensor 't' has quantization scale 0"),
    "fc-filter-negative": (_fc_model(w_scales=(0.01, -0.02, 0.03)),
                           "FULLY_CONNECTED at node 0: filter tensor 'w' has quantization scale -0.02"),
    "fc-filter-zero": (_fc_model(w_scales=(0.0,)), "FULLY_CONNECTED at node 0: filter tensor 'w' has quantization "
                                                   "scale 0"),
    "conv-filter-zero": (_conv([0.01, 0.0]), "CONV_2D at node 0: filter tensor 'w' has quantization scale 0"),
}


@pytest.mark.parametrize("case", list(_SCALES))
def test_bad_scale_refused_at_lowering(case: str) -> None:
    spec, expected = _SCALES[case]
    _refuse_lowering(build_tflite(spec), expected, "re-convert the model")


def test_zero_input_scale_cli(tmp_path: Path) -> None:
    _analyze_and_refuse(tmp_path, build_tflite(_fc_model(in_scale=0.0)), "input tensor 'x' has quantization scale 0")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_scale_refused_at_import(value: float) -> None:
    with pytest.raises(ModelFormatError, match="tensor 0 \\(x\\) has a non-finite quantization scale"):
        parse_tflite(build_tflite(_fc_model(in_scale=value)))


# --------------------------------------------------------------------------------------------
# finding 5: nothing to compute


def _no_ops() -> bytes:
    return build_tflite(ModelSpec(tensors=[_int8("x", (1, 4))], ops=[], inputs=[0], outputs=[0]))


def _output_is_input() -> bytes:
    tensors = [_int8("x", (1, 4)), _int8("y", (1, 4))]
    return build_tflite(ModelSpec(tensors=tensors, ops=[OpSpec("RELU", [0], [1])], inputs=[0], outputs=[0]))


def test_model_without_operators_refused() -> None:
    _refuse_lowering(_no_ops(), "the model has no operators")
    _refuse_lowering(_output_is_input(), "the model's output is its input (tensor 'x')")


def test_model_without_operators_cli(tmp_path: Path) -> None:
    _analyze_and_refuse(tmp_path, _no_ops(), "the model has no operators")
