"""Typed kernel parameters: every dataclass matches its C struct in ek_runtime.h, a missing,
unknown or mistyped field is an error (never a silent 0), the requantization-mode enum is the
same in C and Python, and the C scratch companion agrees with the planner."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.emit import render_struct
from edgekit.errors import EdgekitError
from edgekit.frontends.tflite import parse_tflite
from edgekit.lower import lower_graph
from edgekit.ops import params as P
from edgekit.ops.registry import supported_ops
from edgekit.tflite.writer import build_tflite
from tests.modelgen import OP_GENERATORS

RUNTIME = Path(__file__).resolve().parents[1] / "firmware" / "runtime"


def _all_structs() -> list[type[P.CStruct]]:
    supported_ops()  # import every op module (they declare their own structs)
    seen: list[type[P.CStruct]] = []
    todo = [P.CStruct]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.c_struct:
                seen.append(sub)
    return seen


def test_every_dataclass_matches_its_c_struct() -> None:
    classes = _all_structs()
    assert len(classes) >= 20
    named = {c.c_struct for c in classes}
    assert named <= set(P.runtime_structs()), named - set(P.runtime_structs())
    # every kernel struct of the header has its dataclass
    assert {n for n in P.runtime_structs() if n.endswith("_params_t")} <= named
    for cls in classes:
        P.check_class_against_header(cls)


def _a_gemm_call():  # type: ignore[no-untyped-def]
    spec = OP_GENERATORS["CONV_2D"](np.random.default_rng(1))
    (layer,) = lower_graph(parse_tflite(build_tflite(spec))).layers
    return layer.call


def test_missing_unknown_and_mistyped_fields_are_errors() -> None:
    call = _a_gemm_call()
    params = call.params
    P.check_against_header(params)  # the real one passes

    @P.c_struct("ek_conv2d_gemm_params_t")
    class Missing(P.KernelParams):  # no fuse_add, no add
        geom: P.ConvGeometry
        k4: int
        pad_value: int
        requant_small: int
        rq_mode: int
        rq: P.Requant
        triples: np.ndarray
        weights: np.ndarray
        bias: np.ndarray

    kept = {f.name: getattr(params, f.name) for f in dataclasses.fields(Missing)}
    with pytest.raises(EdgekitError, match=r"missing \['add', 'fuse_add'\]"):
        P.check_against_header(Missing(**kept))

    @P.c_struct("ek_clamp_params_t")
    class Unknown(P.KernelParams):
        size: int
        lower: int
        upper: int
        slope: int

    with pytest.raises(EdgekitError, match=r"unknown \['slope'\]"):
        P.check_against_header(Unknown(1, 2, 3, 4))
    with pytest.raises(EdgekitError, match="points to int32_t in C but the array is int8"):
        P.check_against_header(dataclasses.replace(params, bias=params.bias.astype(np.int8)))
    with pytest.raises(EdgekitError, match="is an integer in C"):
        P.check_against_header(dataclasses.replace(params, k4=1.5))
    with pytest.raises(TypeError):  # a lowering cannot leave a field out
        P.Requant(output_offset=0, act_min=-128, act_max=127, mult=np.zeros(1, np.int32))  # type: ignore[call-arg]


def test_requant_mode_enum_is_shared() -> None:
    P.check_requant_mode_enum()
    text = P.runtime_header().replace("EK_RQ_UNIFORM_SSAT = 3", "EK_RQ_UNIFORM_SSAT = 5")
    with pytest.raises(EdgekitError, match="differs from the C enum"):
        P.check_requant_mode_enum(text)


def test_emitter_refuses_a_params_struct_the_header_does_not_have(tmp_path: Path) -> None:
    from edgekit.pipeline import emit, plan

    spec = OP_GENERATORS["RELU6"](np.random.default_rng(0))
    model = lower_graph(parse_tflite(build_tflite(spec)))

    @P.c_struct("ek_no_such_params_t")
    class Bogus(P.KernelParams):
        size: int

    layer = model.layers[0]
    model.layers[0] = dataclasses.replace(layer, call=dataclasses.replace(layer.call, params=Bogus(1)))
    with pytest.raises(EdgekitError, match="has no struct ek_no_such_params_t"):
        emit(model, plan(model), tmp_path / "lib", "bogus")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_scratch_companion_matches_the_planner(tmp_path: Path) -> None:
    """ek_conv2d_s8_gemm_scratch_bytes() in C == the scratch the planner reserves, on convs and FCs of
    many shapes (single and multi pixel, in_c % 4 == 0 and not)."""
    calls = []
    for op in ("CONV_2D", "FULLY_CONNECTED"):
        for seed in range(25):
            spec = OP_GENERATORS[op](np.random.default_rng(seed))
            for layer in lower_graph(parse_tflite(build_tflite(spec))).layers:
                if layer.call.func == "ek_conv2d_s8_gemm":
                    calls.append(layer.call)
    assert len(calls) >= 40
    assert {c.params.geom.in_c % 4 == 0 for c in calls} == {True, False}
    assert {c.params.geom.out_h * c.params.geom.out_w * c.params.geom.batches > 1 for c in calls} == {True, False}
    arrays: list = []
    inits = [render_struct(c.params, f"p{k}", arrays) for k, c in enumerate(calls)]
    src = ['#include <stdio.h>', '#include "ek_runtime.h"']
    src += [f"static const {a.ctype} {a.symbol}[{a.length}] = {{ {a.body} }};" for a in arrays]
    src += [f"static const ek_conv2d_gemm_params_t p{k} = {init};" for k, init in enumerate(inits)]
    src.append("int main(void) {")
    src += [f'    printf("%ld\\n", (long)ek_conv2d_s8_gemm_scratch_bytes(&p{k}));' for k in range(len(calls))]
    src.append("    return 0;\n}")
    main_c = tmp_path / "scratch.c"
    main_c.write_text("\n".join(src) + "\n")
    exe = tmp_path / "scratch"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{RUNTIME}", str(main_c),
                    str(RUNTIME / "ek_conv_dsp.c"), "-o", str(exe)], check=True, capture_output=True, text=True)
    got = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]
    assert got == [c.scratch_bytes for c in calls]
