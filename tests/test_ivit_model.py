"""I-ViT conversion end to end on small transformers the test builds itself: the integer-only file
round-trips, the generated C agrees bit for bit with the Python integer reference, the scale MUL
is folded away, and the deployed code holds no floating point at all."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit import pipeline  # noqa: E402
from edgekit.data import Preprocess  # noqa: E402
from edgekit.frontends.torch_fx import from_torch  # noqa: E402
from edgekit.quant.int_exec import IntExecutor  # noqa: E402
from edgekit.quant.ivit import quantize_ivit  # noqa: E402
from edgekit.quant.ptq import PTQConfig  # noqa: E402
from edgekit.zoo.models import DeiT, MobileViTBlock  # noqa: E402


def _tiny_vit() -> torch.nn.Module:
    torch.manual_seed(0)
    model = DeiT(image=8, patch=4, dim=16, depth=2, heads=2, mlp_ratio=2.0)
    with torch.no_grad():  # trained-looking LayerNorm affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


class _TinyHybrid(torch.nn.Module):
    """A conv stem and one MobileViT block (SiLU convs, LayerNorm, attention, fold/unfold)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.stem = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.block = MobileViTBlock(8, 16, depth=1, heads=2)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(self.stem(x))
        return self.head(y.mean(dim=(2, 3)))


def _quantize(module: torch.nn.Module, shape: tuple[int, ...]) -> tuple:
    graph = from_torch(module, torch.zeros(1, *shape), "tiny")
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, size=(64, shape[1], shape[2], shape[0])).astype(np.float32)  # NHWC
    pre = Preprocess(input_shape=(shape[1], shape[2], shape[0]), dtype="float32")
    return quantize_ivit(graph, calib, pre, PTQConfig(progress=False)), calib


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    result, calib = _quantize(_tiny_vit(), (3, 8, 8))
    path = tmp_path_factory.mktemp("ivit") / "tiny_ivit.tflite"
    path.write_bytes(result.tflite)
    return result, calib, path


def test_the_integer_file_holds_the_ivit_ops_and_round_trips(tiny_vit) -> None:  # type: ignore[no-untyped-def]
    result, _, path = tiny_vit
    ops = Counter(n.op for n in result.graph.nodes)
    assert ops["EK_LAYERNORM"] == 5 and ops["EK_SHIFTMAX"] == 2 and ops["EK_SHIFTGELU"] == 2
    assert ops["EK_RESIDUAL_ADD"] == 5 and ops["BATCH_MATMUL"] == 4
    assert not {"LAYER_NORM", "SOFTMAX", "GELU", "ADD"} & set(ops)
    loaded = pipeline.load(path)
    assert [n.op for n in loaded.nodes] == [n.op for n in result.graph.nodes]
    assert [n.attrs for n in loaded.nodes if n.op.startswith("EK_")] == \
        [n.attrs for n in result.graph.nodes if n.op.startswith("EK_")]
    stream = {loaded.tensors[n.outputs[0]].dtype for n in loaded.nodes if n.op == "EK_RESIDUAL_ADD"}
    assert stream == {"int16"}


def test_the_attention_scale_mul_is_a_view(tiny_vit) -> None:  # type: ignore[no-untyped-def]
    _, _, path = tiny_vit
    lowered = pipeline.lower(pipeline.load(path))
    muls = [lay for lay in lowered.layers if lay.node.op == "MUL"]
    assert muls and all(lay.call.is_view for lay in muls)


def _int8_inputs(result, calib: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    s, z = result.preprocess.input_scale, result.preprocess.input_zero_point
    return np.clip(np.round(calib / s) + z, -128, 127).astype(np.int8)


def _assert_c_matches_reference(path: Path, x: np.ndarray, name: str) -> np.ndarray:
    graph = pipeline.load(path)
    ref = IntExecutor(graph).run(x)[0]
    host = pipeline.compile_model(graph, name)
    got = np.concatenate([host.run(x[i:i + 1]) for i in range(len(x))]).reshape(ref.shape)
    np.testing.assert_array_equal(got, ref)
    return ref


def test_generated_c_is_bit_exact_with_the_integer_reference(tiny_vit) -> None:  # type: ignore[no-untyped-def]
    result, calib, path = tiny_vit
    ref = _assert_c_matches_reference(path, _int8_inputs(result, calib[:16]), "tiny_ivit")
    assert len(np.unique(ref)) > 3  # not a constant output


def test_the_integer_model_follows_the_float_model(tiny_vit) -> None:  # type: ignore[no-untyped-def]
    from edgekit.quant.float_exec import FloatExecutor

    result, calib, path = tiny_vit
    graph = pipeline.load(path)
    x = _int8_inputs(result, calib)
    q = IntExecutor(graph).run(x)[0].astype(np.float64)
    out = graph.tensors[graph.outputs[0]].quant
    logits = (q - out.scalar_zero_point) * out.scalar_scale
    ref = FloatExecutor(result.prepared).run(calib)[0]
    corr = np.corrcoef(logits.reshape(-1), ref.reshape(-1))[0, 1]
    assert corr > 0.95, corr


_FLOAT_TOKENS = re.compile(r"\b(float|double|float_t|double_t|_Float\d+)\b")
_FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+[eE][-+]?\d+)([eE][-+]?\d+)?[fFlL]?\b")
_LIBM = re.compile(r"\b(exp|expf|log|logf|log2f?|sqrt|sqrtf|pow|powf|tanh|tanhf|erf|erff|fabs|fabsf|floor|floorf|"
                   r"ceil|ceilf|round|roundf|lrintf?|sin|cos)\s*\(")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def test_the_deployed_code_has_no_floating_point(tiny_vit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Model C + the runtime files it compiles: no float type, literal or libm call; compiled for
    a Cortex-M4 without FPU (-mfloat-abi=soft) they need no float helper from libgcc or libm."""
    _, _, path = tiny_vit
    lib = pipeline.generate(path, tmp_path / "lib", "tiny_ivit")
    files = list(lib.sources) + list(lib.runtime_sources)
    files += [p for p in (lib.dir / "runtime").glob("ek_ivit.h")] + [p for p in lib.dir.glob("*.h")]
    assert any(p.name == "ek_ivit.c" for p in files)
    for p in files:
        code = _strip_comments(p.read_text())
        for pattern in (_FLOAT_TOKENS, _FLOAT_LITERAL, _LIBM):
            m = pattern.search(code)
            assert m is None, f"{p.name}: {m.group(0)!r}"
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc is not installed (tools/setup.sh)")
    undefined: set[str] = set()
    defined: set[str] = set()
    for src in [p for p in files if p.suffix == ".c"]:
        obj = tmp_path / f"{src.stem}.o"
        subprocess.run([cc, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-std=c99", "-O2", "-Wall", "-Wextra",
                        "-Werror", *[f"-I{d}" for d in lib.include_dirs], "-c", str(src), "-o", str(obj)], check=True)
        nm = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True, capture_output=True, text=True).stdout
        undefined |= {line.split()[-1] for line in nm.splitlines() if line.strip()}
        nm_def = subprocess.run(["arm-none-eabi-nm", "--defined-only", str(obj)], check=True, capture_output=True,
                                text=True).stdout
        defined |= {line.split()[-1] for line in nm_def.splitlines() if len(line.split()) >= 3}
    undefined -= defined
    float_helpers = {s for s in undefined if re.match(r"__aeabi_[fd]|__aeabi_[ui]2[fd]|__(add|sub|mul|div)[sd]f3|"
                                                       r"__(fix|float)|__extend|__trunc", s) or _LIBM.match(s + "(")}
    assert not float_helpers, sorted(float_helpers)
    assert undefined <= {"memcpy", "memset", "__aeabi_uldivmod", "__aeabi_ldivmod", "__aeabi_idiv", "__aeabi_uidiv",
                         "__aeabi_idivmod", "__aeabi_uidivmod"}, sorted(undefined)


def test_a_hybrid_with_silu_converts_and_is_bit_exact(tmp_path: Path) -> None:
    result, calib = _quantize(_TinyHybrid().eval(), (3, 8, 8))
    ops = Counter(n.op for n in result.graph.nodes)
    assert ops["EK_SHIFTGELU"] >= 3 and "LOGISTIC" not in ops  # SiLU → ShiftGELU(alpha 1)
    path = tmp_path / "hybrid.tflite"
    path.write_bytes(result.tflite)
    _assert_c_matches_reference(path, _int8_inputs(result, calib[:8]), "hybrid")


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (tools/setup.sh installs them)")
def test_the_integer_vit_on_the_emulated_nucleo_is_bit_exact_with_host(tiny_vit, tmp_path: Path) -> None:
    from edgekit.device.session import run_library
    from edgekit.targets import get_board

    result, calib, path = tiny_vit
    x = _int8_inputs(result, calib[:4])
    lib = pipeline.generate(path, tmp_path / "lib", "tiny_ivit")
    run = run_library(lib, get_board("nucleo"), x, emulate=True, work_dir=tmp_path / "fw", progress=False)
    ref = IntExecutor(pipeline.load(path)).run(x)[0]
    np.testing.assert_array_equal(run.outputs.reshape(ref.shape), ref)
    assert int(run.ticks.min()) > 0


def test_ptq_of_a_transformer_points_to_the_ivit_method() -> None:
    from edgekit.errors import UnsupportedOpError
    from edgekit.quant.ptq import quantize_graph

    graph = from_torch(_tiny_vit(), torch.zeros(1, 3, 8, 8), "tiny")
    calib = np.random.default_rng(0).normal(0, 1, size=(8, 8, 8, 3)).astype(np.float32)
    with pytest.raises(UnsupportedOpError, match="--method ivit"):
        quantize_graph(graph, calib, Preprocess(input_shape=(8, 8, 3), dtype="float32"), PTQConfig(progress=False))
