"""int4 filters (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED): stored packed in the generated C
(two values per byte, ``firmware/runtime/ek_int4.h``), unpacked by the kernels, bit-exact.

A model with int4 filters runs in host mode bit for bit like the Python integer reference
(IntExecutor), like the same model with the values stored as int8 filters, and (where the pinned
TFLite Micro wheel accepts INT4 filters) like TFLM; on the fast (SIMD) and the portable kernels.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit import pipeline
from edgekit.analyze import analyze_graph
from edgekit.emit import render_struct
from edgekit.frontends.tflite import parse_tflite
from edgekit.lower import lower_graph
from edgekit.ops import _fast
from edgekit.quant.int_exec import IntExecutor
from edgekit.tflite.writer import ModelSpec, build_tflite
from tests.modelgen import Graph

RUNTIME = Path(__file__).resolve().parents[1] / "firmware" / "runtime"
S4_FUNCS = {"ek_conv2d_s4", "ek_conv2d_s4_gemm", "ek_dwconv2d_s4", "ek_dwconv2d_s4_fast", "ek_fully_connected_s4"}
KERNEL_SETS = ("fast", "portable")

# (name, builder): each builder adds one layer to a modelgen Graph, fixed shapes and options
CASES = {
    "conv3x3_s1_same_3to5": lambda g: g.conv2d(g.input((1, 7, 6, 3)), cout=5, kernel=(3, 3), stride=(1, 1),
                                               padding="SAME"),
    "conv3x3_s2_valid_8to7": lambda g: g.conv2d(g.input((1, 9, 8, 8)), cout=7, kernel=(3, 3), stride=(2, 2),
                                                padding="VALID"),
    "conv3x3_s2_same_1to1": lambda g: g.conv2d(g.input((1, 5, 5, 1)), cout=1, kernel=(3, 3), stride=(2, 2),
                                               padding="SAME"),
    "conv1x1_s1_7to3": lambda g: g.conv2d(g.input((1, 5, 4, 7)), cout=3, kernel=(1, 1), stride=(1, 1),
                                          padding="VALID"),
    "conv1x1_s2_4to9": lambda g: g.conv2d(g.input((1, 6, 6, 4)), cout=9, kernel=(1, 1), stride=(2, 2),
                                          padding="SAME"),
    "conv2x3_s1_valid_5to6_relu": lambda g: g.conv2d(g.input((1, 6, 7, 5)), cout=6, kernel=(2, 3), stride=(1, 1),
                                                     padding="VALID", act="RELU"),
    "dw3x3_s1_same_c8": lambda g: g.depthwise(g.input((1, 6, 6, 8)), multiplier=1, kernel=(3, 3), stride=(1, 1),
                                              padding="SAME"),
    "dw3x3_s2_valid_c12": lambda g: g.depthwise(g.input((1, 9, 9, 12)), multiplier=1, kernel=(3, 3),
                                                stride=(2, 2), padding="VALID"),
    "dw3x3_s2_same_c5": lambda g: g.depthwise(g.input((1, 7, 7, 5)), multiplier=1, kernel=(3, 3), stride=(2, 2),
                                              padding="SAME"),
    "dw2x2_s1_valid_c3_m2": lambda g: g.depthwise(g.input((1, 5, 6, 3)), multiplier=2, kernel=(2, 2),
                                                  stride=(1, 1), padding="VALID"),
    "fc_13to5_per_channel": lambda g: g.fully_connected(g.input((1, 13)), units=5, per_channel=True),
    "fc_7to4_per_tensor": lambda g: g.fully_connected(g.input((1, 7)), units=4, per_channel=False),
    "fc_flatten_27to3_nobias": lambda g: g.fully_connected(g.input((1, 3, 3, 3)), units=3, per_channel=True,
                                                           bias=False),
    "fc_rows_3x11to6": lambda g: g.fully_connected(g.input((1, 3, 11)), units=6, per_channel=True,
                                                   keep_num_dims=True),
}


def int4_model(case: str, seed: int = 0) -> ModelSpec:
    g = Graph(np.random.default_rng(seed), weight_dtype="int4")
    y = CASES[case](g)
    return g.spec([0], [y], f"int4 {case}")


def as_int8(spec: ModelSpec) -> ModelSpec:
    """The same model with every int4 tensor stored as int8 (the same values)."""
    return dataclasses.replace(spec, tensors=[dataclasses.replace(t, dtype="int8") if t.dtype == "int4" else t
                                              for t in spec.tensors])


def inputs(spec: ModelSpec, n: int = 6, seed: int = 7) -> np.ndarray:
    shape = spec.tensors[spec.inputs[0]].shape
    x = np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:])).astype(np.int8)
    x[0], x[1] = -128, 127
    return x


def _layers(buf: bytes, kernels: str) -> list:
    with _fast.kernel_set(kernels):
        return [lay.call for lay in lower_graph(parse_tflite(buf)).layers]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_int4_host_equals_reference_and_int8(case: str, kernels: str, tmp_path: Path) -> None:
    spec = int4_model(case)
    assert any(t.dtype == "int4" for t in spec.tensors)
    b4, b8 = build_tflite(spec), build_tflite(as_int8(spec))
    x = inputs(spec)
    ref = IntExecutor(parse_tflite(b4)).run(x)[0]
    assert np.array_equal(ref, IntExecutor(parse_tflite(b8)).run(x)[0])
    assert len(np.unique(ref)) > 2, "a degenerate model (constant output) proves little"
    with _fast.kernel_set(kernels):
        h4 = pipeline.compile_model(b4, name="w4", work_dir=tmp_path / "w4").run(x)
        h8 = pipeline.compile_model(b8, name="w8", work_dir=tmp_path / "w8").run(x)
    np.testing.assert_array_equal(h4.reshape(ref.shape), ref)
    np.testing.assert_array_equal(h8.reshape(ref.shape), ref)

    # the int4 kernels run, and their weight arrays hold half the bytes of the int8 values (rounded
    # up; the optimised kernels' int32 word arrays to whole words)
    (c4,), (c8,) = _layers(b4, kernels), _layers(b8, kernels)
    assert c4.func in S4_FUNCS and c4.func.replace("_s4", "_s8") == c8.func
    n8, n4 = c8.params.weights.nbytes, c4.params.weights.nbytes
    if c4.func == "ek_dwconv2d_s4_fast":
        n8 //= 2  # the int8 kernel stores each value as an int16 lane
    if c4.params.weights.dtype == np.int32:
        assert n4 == -(-n8 // 8) * 4
    else:
        assert c4.params.weights.dtype == np.int8 and n4 == -(-n8 // 2)


@pytest.mark.parametrize("case", sorted(CASES))
def test_int4_packing_follows_tflite(case: str) -> None:
    """The portable kernels' weights are exactly the TFLite file's INT4 buffer (low nibble first)."""
    spec = int4_model(case)
    w = next(t for t in spec.tensors if t.dtype == "int4")
    (call,) = _layers(build_tflite(spec), "portable")
    from edgekit.tflite.writer import _packed_bytes

    assert call.params.weights.tobytes() == _packed_bytes(w, 4)
    v = np.asarray(w.data).reshape(-1).astype(np.int64)
    b = call.params.weights.view(np.uint8).astype(np.int64)
    lo, hi = b & 15, b >> 4
    back = np.stack([lo - ((lo & 8) << 1), hi - ((hi & 8) << 1)], axis=1).reshape(-1)[: v.size]
    np.testing.assert_array_equal(back, v)


def test_tflm_agrees_on_int4_convolutions() -> None:
    """TFLM (the pinned wheel) runs INT4 CONV_2D and DEPTHWISE_CONV_2D filters: == host mode."""
    pytest.importorskip("tflite_micro")
    from tflite_micro.python.tflite_micro import runtime

    for case in sorted(CASES):
        if case.startswith("fc"):
            continue
        spec = int4_model(case)
        buf = build_tflite(spec)
        x = inputs(spec)
        it = runtime.Interpreter.from_bytes(buf, arena_size=1 << 20)
        want = []
        for xi in x:
            it.set_input(xi[None], 0)
            it.invoke()
            want.append(np.array(it.get_output(0)).copy())
        ref = IntExecutor(parse_tflite(buf)).run(x)[0]
        np.testing.assert_array_equal(np.concatenate(want).reshape(ref.shape), ref, err_msg=case)


def test_tflm_int4_fully_connected() -> None:
    pytest.importorskip("tflite_micro")
    from tflite_micro.python.tflite_micro import runtime

    buf = build_tflite(int4_model("fc_13to5_per_channel"))
    try:
        runtime.Interpreter.from_bytes(buf, arena_size=1 << 20)
    except RuntimeError:
        pytest.skip("the pinned TFLM wheel refuses INT4 FULLY_CONNECTED filters with int8 inputs "
                    "(fully_connected_common.cc: filter->type != kTfLiteInt4); host == IntExecutor == int8 "
                    "is checked above")
    raise AssertionError("TFLM now accepts INT4 FULLY_CONNECTED: compare it like the convolutions")


def _chain(seed: int = 3) -> ModelSpec:
    """conv 3x3 → depthwise (fast path) → 1x1 conv → FC, all int4."""
    g = Graph(np.random.default_rng(seed), weight_dtype="int4")
    x = g.input((1, 8, 8, 3))
    y = g.conv2d(x, cout=8, kernel=(3, 3), stride=(2, 2), padding="SAME", act="RELU")
    y = g.depthwise(y, multiplier=1, kernel=(3, 3), stride=(1, 1), padding="SAME")
    y = g.conv2d(y, cout=5, kernel=(1, 1), stride=(1, 1), padding="VALID")
    y = g.fully_connected(y, units=7, per_channel=True)
    return g.spec([x], [y], "int4 chain")


def test_analyze_counts_packed_weights() -> None:
    spec = _chain()
    g4, g8 = parse_tflite(build_tflite(spec)), parse_tflite(build_tflite(as_int8(spec)))
    w4 = [t for t in g4.tensors if t.dtype == "int4"]
    assert len(w4) == 4
    saved = sum(t.numel - -(-t.numel // 2) for t in w4)
    a4, _ = analyze_graph(g4)
    a8, _ = analyze_graph(g8)
    assert a4.weights_bytes == a8.weights_bytes - saved


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_int4_scratch_companions_match_the_planner(tmp_path: Path) -> None:
    calls = [c for case in sorted(CASES) for c in _layers(build_tflite(int4_model(case)), "fast")]
    calls += _layers(build_tflite(_chain()), "fast")
    found = [c for c in calls if c.func in ("ek_conv2d_s4_gemm", "ek_dwconv2d_s4_fast")]
    assert {c.func for c in found} == {"ek_conv2d_s4_gemm", "ek_dwconv2d_s4_fast"}
    arrays: list = []
    inits = [render_struct(c.params, f"p{k}", arrays) for k, c in enumerate(found)]
    src = ['#include <stdio.h>', '#include "ek_runtime.h"']
    src += [f"static const {a.ctype} {a.symbol}[{a.length}] = {{ {a.body} }};" for a in arrays]
    for k, (c, init) in enumerate(zip(found, inits, strict=True)):
        struct = "ek_conv2d_gemm_params_t" if c.func == "ek_conv2d_s4_gemm" else "ek_dwconv2d_fast_params_t"
        src.append(f"static const {struct} p{k} = {init};")
    src.append("int main(void) {")
    src += [f'    printf("%ld\\n", (long){c.func}_scratch_bytes(&p{k}));' for k, c in enumerate(found)]
    src.append("    return 0;\n}")
    main_c = tmp_path / "scratch.c"
    main_c.write_text("\n".join(src) + "\n")
    exe = tmp_path / "scratch"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{RUNTIME}", str(main_c),
                    str(RUNTIME / "ek_conv_dsp.c"), str(RUNTIME / "ek_dwconv_dsp.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    got = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]
    assert got == [c.scratch_bytes for c in found]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_int4_chain_sanitized_and_bit_exact(kernels: str, tmp_path: Path) -> None:
    """A chain of every int4 kernel under ASan/UBSan == the integer reference (the unpack buffers
    stay inside their scratch)."""
    from edgekit.toolchain.host import build_host_executable, run_host_executable

    spec = _chain()
    buf = build_tflite(spec)
    x = inputs(spec, n=4)
    assert len({c.func for c in _layers(buf, kernels)} & S4_FUNCS) >= (2 if kernels == "fast" else 3)
    with _fast.kernel_set(kernels):
        lib = pipeline.generate(buf, tmp_path / "lib", "chain4")
    got = run_host_executable(build_host_executable(lib, tmp_path / "exe", sanitize=True), x, lib.info)
    ref = IntExecutor(parse_tflite(buf)).run(x)[0]
    np.testing.assert_array_equal(got.reshape(ref.shape), ref)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc (tools/setup.sh)")
def test_int4_library_compiles_for_cortex_m4(tmp_path: Path) -> None:
    """The generated library of an int4 chain (the DSP paths: EK_HAVE_DSP on a Cortex-M4) builds
    warning-free for the Cortex-M4F."""
    buf = build_tflite(_chain())
    with _fast.kernel_set("fast"):
        funcs = {c.func for c in _layers(buf, "fast")}
        lib = pipeline.generate(buf, tmp_path / "lib", "chain4")
    assert {"ek_conv2d_s4_gemm", "ek_dwconv2d_s4_fast"} <= funcs
    sources = [p for p in [*lib.sources, *lib.runtime_sources] if p.suffix == ".c"]
    for src in sources:
        subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                        "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", *[f"-I{d}" for d in lib.include_dirs],
                        "-c", str(src), "-o", str(tmp_path / f"{src.stem}.o")], check=True)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (tools/setup.sh installs them)")
def test_int4_chain_on_the_emulated_nucleo_equals_host(tmp_path: Path) -> None:
    from edgekit.device.session import run_library
    from edgekit.targets import get_board

    buf = build_tflite(_chain())
    x = inputs(_chain(), n=3)
    with _fast.kernel_set("fast"):
        lib = pipeline.generate(buf, tmp_path / "lib", "chain4")
        host = pipeline.compile_model(buf, name="chain4h", work_dir=tmp_path / "h").run(x)
    run = run_library(lib, get_board("nucleo"), x, emulate=True, work_dir=tmp_path / "fw", progress=False)
    np.testing.assert_array_equal(run.outputs.reshape(host.shape), host)
    ref = IntExecutor(parse_tflite(buf)).run(x)[0]
    np.testing.assert_array_equal(host.reshape(ref.shape), ref)
