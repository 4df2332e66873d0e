"""The float32 baseline (``--precision float32``): every float32 C kernel against PyTorch on small
random graphs, the zoo's float models through host mode, the CLI, and an emulated deploy.

Tolerance of the kernels: max |C − torch| <= 1e-5 · max |torch| per output (relative to the
output's magnitude: the C sums in index order, torch in blocks). The device runs the same C but
another compiler and libm (arm gcc + newlib): it is compared with host mode within a tolerance,
not bit for bit (:data:`edgekit.pipeline.FLOAT32_TOLERANCE`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from edgekit.errors import UnsupportedOpError  # noqa: E402
from edgekit.frontends.tflite import parse_tflite  # noqa: E402
from edgekit.frontends.torch_fx import from_torch, save_torch_file  # noqa: E402
from edgekit.ir.graph import Graph  # noqa: E402
from edgekit.lower import lower_graph  # noqa: E402
from edgekit.pipeline import compile_model  # noqa: E402
from edgekit.quant.float_exec import FloatExecutor  # noqa: E402
from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec, build_tflite  # noqa: E402

RTOL = 1e-5
EDGEKIT = [sys.executable, "-m", "edgekit.cli"]
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make setup installs them)",
)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _close(ours: np.ndarray, ref: np.ndarray, rtol: float = RTOL) -> float:
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    assert ours.dtype == np.float32
    err = float(np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max())
    scale = max(float(np.abs(ref).max()), 1e-6)
    assert err <= rtol * scale, f"max |C - torch| {err:g} > {rtol:g} * {scale:g}"
    return err


def _nhwc(t: torch.Tensor) -> np.ndarray:
    return (t.permute(0, 2, 3, 1) if t.dim() == 4 else t).detach().numpy()


def _host(graph: Graph, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Host mode of the float32 library (a new folder each time: dlopen caches by path)."""
    return compile_model(graph, name="m", work_dir=Path(tempfile.mkdtemp(dir=tmp_path)), precision="float32")


def _kernels(graph: Graph) -> set[str]:
    return {lay.call.func for lay in lower_graph(graph, "float32").layers if lay.call.func}


def _check_module(module: nn.Module, shape: tuple[int, ...], tmp_path: Path, batch: int = 3) -> set[str]:
    """`module` (eval mode) through the PyTorch front end and the float32 C, against torch."""
    module = nn.Sequential(module).eval()  # a bare leaf module would be traced into its function
    x = torch.randn(batch, *shape[1:])
    graph = from_torch(module, x[:1])
    with torch.no_grad():
        ref = module(x).numpy()
    out_shape = tuple(graph.tensors[graph.outputs[0]].shape[1:])
    if ref.ndim == 4 and out_shape != ref.shape[1:]:  # feature maps stay NHWC in the IR
        ref = ref.transpose(0, 2, 3, 1)
    ours = _host(graph, tmp_path).run(_nhwc(x))
    _close(ours.reshape(ref.shape), ref)
    return _kernels(graph)


class _Fn(nn.Module):
    """``fn(x, a, b)`` with two parameters (constants of the graph)."""

    def __init__(self, fn, a: torch.Tensor, b: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.fn = fn
        self.a = nn.Parameter(a)
        self.b = nn.Parameter(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, self.a, self.b)


# ---------------------------------------------------------------------------------------------
# each kernel against torch

CONV_CASES = {
    "3x3_same": nn.Conv2d(3, 8, 3, padding=1),
    "stride2_valid_nobias": nn.Conv2d(3, 6, 3, stride=2, bias=False),
    "dilated": nn.Conv2d(4, 5, 3, padding=2, dilation=2),
    "grouped": nn.Conv2d(4, 6, 3, padding=1, groups=2),
    "patch_embed": nn.Conv2d(3, 16, 4, stride=4),
    "pointwise": nn.Conv2d(5, 7, 1),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d(case: str, tmp_path: Path) -> None:
    shape = (1, CONV_CASES[case].in_channels, 9, 11)
    assert "ek_conv2d_f32" in _check_module(CONV_CASES[case], shape, tmp_path)


@pytest.mark.parametrize("mult,stride,pad", [(1, 1, 1), (2, 2, 1), (1, 2, 0)])
def test_depthwise_conv2d(mult: int, stride: int, pad: int, tmp_path: Path) -> None:
    m = nn.Conv2d(4, 4 * mult, 3, stride=stride, padding=pad, groups=4)
    assert "ek_dwconv2d_f32" in _check_module(m, (1, 4, 9, 8), tmp_path)


def test_fully_connected_rows_and_keep_num_dims(tmp_path: Path) -> None:
    assert "ek_fully_connected_f32" in _check_module(nn.Linear(24, 10), (1, 24), tmp_path)
    assert "ek_fully_connected_f32" in _check_module(nn.Linear(12, 7, bias=False), (1, 5, 12), tmp_path)


def test_batch_matmul_broadcast_and_adj_y(tmp_path: Path) -> None:
    def fn(x: torch.Tensor, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q = x.reshape(-1, 2, 3, 6) * w + v
        s = (q @ q.transpose(-2, -1)).softmax(-1)  # adj_y, activation @ activation
        return (s @ q) @ q[:, :1].transpose(-2, -1)  # a batch of 1 broadcast against the batch of 2

    kernels = _check_module(_Fn(fn, torch.randn(6), torch.randn(6)), (1, 36), tmp_path)
    assert {"ek_batch_matmul_f32", "ek_softmax_f32"} <= kernels


def _float_spec(tensors: list[TensorSpec], ops: list[OpSpec], inputs: list[int], outputs: list[int]) -> Graph:
    return parse_tflite(build_tflite(ModelSpec(tensors, ops, inputs, outputs, description="float32 test")))


@pytest.mark.parametrize("adj_x,adj_y", [(True, False), (False, True), (True, True)])
def test_batch_matmul_adjoints_from_tflite(adj_x: bool, adj_y: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    m, k, n = 4, 5, 3
    a_shape = (2, 1, k, m) if adj_x else (2, 1, m, k)
    b_shape = (3, n, k) if adj_y else (3, k, n)
    b = rng.normal(size=b_shape).astype(np.float32)
    t = [TensorSpec("a", a_shape, "float32"), TensorSpec("b", b_shape, "float32", data=b),
         TensorSpec("y", (2, 3, m, n), "float32")]
    g = _float_spec(t, [OpSpec("BATCH_MATMUL", [0, 1], [2], dict(adj_x=adj_x, adj_y=adj_y))], [0], [2])
    x = rng.normal(size=(1, *a_shape)).astype(np.float32)  # one sample (the model's batch is 2)
    ta, tb = torch.from_numpy(x[0]), torch.from_numpy(b)
    ref = (ta.transpose(-1, -2) if adj_x else ta) @ (tb.transpose(-1, -2) if adj_y else tb)
    ours = _host(g, tmp_path).run(x)
    _close(ours.reshape(ref.shape), ref.numpy())


def test_layer_norm_softmax_and_gelu(tmp_path: Path) -> None:
    ln = nn.LayerNorm(16, eps=1e-6)
    ln.weight.data.uniform_(0.5, 1.5)
    ln.bias.data.uniform_(-0.5, 0.5)
    kernels = _check_module(nn.Sequential(ln, nn.GELU(), nn.Softmax(-1)), (1, 7, 16), tmp_path)
    assert {"ek_layer_norm_f32", "ek_gelu_f32", "ek_softmax_f32"} <= kernels
    model = nn.Sequential(nn.LayerNorm(8, elementwise_affine=False), nn.GELU(approximate="tanh"))
    assert {"ek_layer_norm_f32", "ek_gelu_f32"} <= _check_module(model, (1, 3, 8), tmp_path)


def test_softmax_beta_from_tflite(tmp_path: Path) -> None:
    t = [TensorSpec("x", (1, 3, 10), "float32"), TensorSpec("y", (1, 3, 10), "float32")]
    g = _float_spec(t, [OpSpec("SOFTMAX", [0], [1], dict(beta=0.37))], [0], [1])
    x = np.random.default_rng(1).normal(0, 4, (2, 3, 10)).astype(np.float32)
    _close(_host(g, tmp_path).run(x), torch.softmax(torch.from_numpy(x) * 0.37, -1).numpy())


@pytest.mark.parametrize("act", ["relu", "relu6", "sigmoid", "hardswish", "silu", "tanh"])
def test_elementwise_activations(act: str, tmp_path: Path) -> None:
    mod = {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "sigmoid": nn.Sigmoid(), "hardswish": nn.Hardswish(),
           "silu": nn.SiLU(), "tanh": nn.Tanh()}[act]
    x = torch.randn(2, 3, 40) * 5  # beyond RELU6's and hard-swish's knees, into sigmoid's tails
    mod = nn.Sequential(mod).eval()
    graph = from_torch(mod, x[:1])
    _close(_host(graph, tmp_path).run(x.numpy()), mod(x).numpy())
    want = {"relu": "ek_clamp_f32", "relu6": "ek_clamp_f32", "sigmoid": "ek_logistic_f32",
            "hardswish": "ek_hard_swish_f32", "silu": "ek_logistic_f32", "tanh": "ek_tanh_f32"}[act]
    assert want in _kernels(graph)
    if act == "silu":  # x · sigmoid(x): LOGISTIC then MUL of two activations
        assert "ek_mul_f32" in _kernels(graph)


def test_add_sub_mul_broadcast_and_constants(tmp_path: Path) -> None:
    c = torch.randn(1, 5, 1)
    r = torch.randn(6)

    def fn(x: torch.Tensor, c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        y = x * c + r  # constants from flash, broadcast along different axes
        z = y - x.mean(dim=-1, keepdim=True)  # activation - broadcast activation
        return z * y - 0.5

    kernels = _check_module(_Fn(fn, c, r), (1, 5, 6), tmp_path)
    assert {"ek_add_f32", "ek_sub_f32", "ek_mul_f32", "ek_mean_f32"} <= kernels


def test_mean_pooling_and_pad(tmp_path: Path) -> None:
    class Pools(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pad = nn.ZeroPad2d((1, 0, 2, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False)  # divides by in-bounds taps
            m = F.max_pool2d(self.pad(x), 2)
            return torch.cat([a.mean(dim=(2, 3)), m.flatten(1), F.adaptive_avg_pool2d(x, 1).flatten(1)], 1)

    kernels = _check_module(Pools(), (1, 3, 7, 6), tmp_path)
    assert {"ek_avgpool_f32", "ek_maxpool_f32", "ek_pad_f32", "ek_concat_f32"} <= kernels


def test_fused_activations_from_tflite(tmp_path: Path) -> None:
    """Fused RELU/RELU6/RELU_N1_TO_1 on CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and ADD, and
    SAME average pooling, against the float executor (torch)."""
    rng = np.random.default_rng(7)

    def const(name: str, shape: tuple[int, ...]) -> TensorSpec:
        return TensorSpec(name, shape, "float32", data=rng.normal(0, 0.7, shape).astype(np.float32))

    t = [TensorSpec("x", (1, 6, 6, 2), "float32"), const("w", (3, 3, 3, 2)), const("b", (3,)),
         TensorSpec("c", (1, 6, 6, 3), "float32"), const("dw", (1, 3, 3, 3)), const("db", (3,)),
         TensorSpec("d", (1, 6, 6, 3), "float32"), TensorSpec("s", (1, 6, 6, 3), "float32"),
         TensorSpec("p", (1, 3, 3, 3), "float32"), TensorSpec("shape", (2,), "int32",
                                                             data=np.array([1, 27], np.int32)),
         TensorSpec("f", (1, 27), "float32"), const("fw", (4, 27)), const("fb", (4,)),
         TensorSpec("y", (1, 4), "float32")]
    ops = [OpSpec("CONV_2D", [0, 1, 2], [3], dict(padding="SAME", stride_w=1, stride_h=1,
                                                  fused_activation_function="RELU6")),
           OpSpec("DEPTHWISE_CONV_2D", [3, 4, 5], [6], dict(padding="SAME", stride_w=1, stride_h=1,
                                                            depth_multiplier=1, fused_activation_function="RELU")),
           OpSpec("ADD", [3, 6], [7], dict(fused_activation_function="RELU_N1_TO_1")),
           OpSpec("AVERAGE_POOL_2D", [7], [8], dict(padding="SAME", stride_w=2, stride_h=2, filter_width=3,
                                                    filter_height=3)),
           OpSpec("RESHAPE", [8, 9], [10]),
           OpSpec("FULLY_CONNECTED", [10, 11, 12], [13], dict(fused_activation_function="RELU"))]
    g = _float_spec(t, ops, [0], [13])
    x = rng.normal(0, 2, (5, 6, 6, 2)).astype(np.float32)
    (ref,) = FloatExecutor(g, "cpu").run(x)
    ours = _host(g, tmp_path).run(x)
    _close(ours, np.asarray(ref))
    assert (ours >= 0).all() and ours.max() > 0


def test_attention_data_movement_and_class_token(tmp_path: Path) -> None:
    """TRANSPOSE and STRIDED_SLICE (the dtype-generic copies), a constant CONCATENATION operand
    (a class token) and the attention products, as in deit_tiny."""

    class Attn(nn.Module):
        def __init__(self, d: int = 8, heads: int = 2) -> None:
            super().__init__()
            self.cls = nn.Parameter(torch.randn(1, 1, d))
            self.qkv = nn.Linear(d, 3 * d)
            self.heads = heads

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, n, d = x.shape
            t = torch.cat([self.cls.expand(b, 1, d), x], 1)
            qkv = self.qkv(t).reshape(b, n + 1, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = (q @ k.transpose(-2, -1) * 0.5).softmax(-1)
            return (a @ v).transpose(1, 2).reshape(b, n + 1, d)[:, 0]

    kernels = _check_module(Attn(), (1, 5, 8), tmp_path)
    assert {"ek_concat_f32", "ek_batch_matmul_f32", "ek_transpose", "ek_strided_slice"} <= kernels


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_float32_kernels_are_sanitizer_clean(tmp_path: Path) -> None:
    """deit_tiny-like attention and a CNN under ASan/UBSan: the same outputs as host mode."""
    from edgekit.pipeline import generate
    from edgekit.toolchain.host import build_host_executable, run_host_executable

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = _Small().f[:5]  # conv, BN, SiLU, depthwise, ReLU
            self.pad = nn.ZeroPad2d(1)
            self.ln = nn.LayerNorm(8)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.head = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = F.max_pool2d(self.pad(self.cnn(x)), 2, 2)  # 8×8 → 10×10 → 5×5
            tokens = f.flatten(2).transpose(1, 2)
            t = self.ln(torch.cat([tokens.mean(dim=1, keepdim=True), tokens], 1))
            t = t + self.attn(t, t, t, need_weights=False)[0]
            return self.head(t[:, 0]).softmax(-1)

    net = Net().eval()
    graph = from_torch(net, torch.zeros(1, 3, 8, 8))
    lib = generate(graph, tmp_path / "lib", "san", precision="float32")
    exe = build_host_executable(lib, tmp_path / "san_exe", sanitize=True)
    x = np.random.default_rng(4).normal(size=(3, 8, 8, 3)).astype(np.float32)
    sanitized = run_host_executable(exe, x, lib.info)
    host = _host(graph, tmp_path).run(x)
    np.testing.assert_array_equal(sanitized, host)
    with torch.no_grad():
        _close(host, net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy())


# ---------------------------------------------------------------------------------------------
# int8 precision is unchanged; float32 precision refuses quantized models


def test_int8_precision_still_refuses_float_nodes() -> None:
    graph = from_torch(nn.Sequential(nn.Linear(4, 3)).eval(), torch.zeros(1, 4))
    with pytest.raises(UnsupportedOpError, match="float32; edgekit's int8 kernels"):
        lower_graph(graph)
    lower_graph(graph, "float32")


def test_float32_precision_refuses_a_quantized_model() -> None:
    from tests.modelgen import random_chain

    graph = parse_tflite(build_tflite(random_chain(np.random.default_rng(5), n_ops=3)))
    with pytest.raises(UnsupportedOpError, match="--precision float32 runs float models"):
        lower_graph(graph, "float32")


# ---------------------------------------------------------------------------------------------
# the zoo's float models


@pytest.fixture(scope="module")
def cifar_like() -> np.ndarray:
    """CIFAR-like uint8 images: smooth colour fields with noise, not white noise."""
    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, (4, 4, 4, 3)).astype(np.float32)
    img = np.kron(base, np.ones((1, 8, 8, 1), np.float32)) + rng.normal(0, 20, (4, 32, 32, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_deit_tiny_float32_matches_torch(cifar_like: np.ndarray, tmp_path: Path) -> None:
    from edgekit.zoo import load_zoo_model, save_for_frontend

    path = tmp_path / "deit_tiny.pt"
    save_for_frontend("deit_tiny", path)
    model, entry = load_zoo_model("deit_tiny")
    x = entry.prepare(cifar_like)  # NCHW float, the model's own preprocessing
    with torch.no_grad():
        ref = model(torch.as_tensor(x)).numpy()
    host = compile_model(path, name="deit", work_dir=tmp_path / "w", precision="float32")
    assert host.info.input.dtype == host.info.output.dtype == "float32"
    ours = host.run(np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1)))
    assert (ours.argmax(1) == ref.argmax(1)).all()
    assert np.abs(ours - ref).max() < 1e-3


# ---------------------------------------------------------------------------------------------
# CLI


def _edgekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGEKIT, *args], capture_output=True, text=True, timeout=300)


class _Small(nn.Module):
    """A small float CNN on 8×8 RGB: conv + BN + SiLU, depthwise, pooling, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.SiLU(),
                               nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                               nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, nn.Module]:
    folder = tmp_path_factory.mktemp("f32")
    torch.manual_seed(1)
    model = _Small().eval()
    path = folder / "small.pt"
    save_torch_file(path, model, (1, 3, 8, 8))
    rng = np.random.default_rng(2)
    data = folder / "data.npz"
    np.savez(data, images=rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8), labels=np.arange(24) % 4)
    return path, data, model


def test_cli_run_eval_generate_analyze_float32(small_model: tuple[Path, Path, nn.Module], tmp_path: Path) -> None:
    path, data, model = small_model
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = _edgekit("run", str(path), "--precision", "float32", "--input", str(tmp_path / "x.npy"), "--output",
                    str(tmp_path / "y.npy"))
    assert proc.returncode == 0, proc.stderr
    assert "float32" in proc.stdout
    with torch.no_grad():
        ref = model(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    _close(np.load(tmp_path / "y.npy"), ref)

    proc = _edgekit("eval", str(path), "--precision", "float32", "--data", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    c_eval = json.loads(proc.stdout)
    assert c_eval["runtime"] == "float32 (generated C, host)" and c_eval["samples"] == 24
    proc = _edgekit("eval", str(path), "--data", str(data), "--json")  # the float executor, as before
    assert proc.returncode == 0, proc.stderr
    torch_eval = json.loads(proc.stdout)
    assert torch_eval["runtime"].startswith("float (torch")
    assert c_eval["top1"] == torch_eval["top1"]

    proc = _edgekit("generate", str(path), "--precision", "float32", "-o", str(tmp_path / "lib"))
    assert proc.returncode == 0, proc.stderr
    header = (tmp_path / "lib" / "small.c").read_text()
    assert "EK_DTYPE_FLOAT32" in header and "ek_conv2d_f32" in header
    assert (tmp_path / "lib" / "runtime" / "ek_float.c").exists()

    proc = _edgekit("analyze", str(path), "--precision", "float32", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["precision"] == "float32" and report["kernels_available"] is True

    proc = _edgekit("run", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "z.npy"))
    assert proc.returncode != 0 and "edgekit quantize" in proc.stderr and "--precision float32" in proc.stderr


def test_cli_deploy_refuses_calib_with_float32(small_model: tuple[Path, Path, nn.Module], tmp_path: Path) -> None:
    path, data, _ = small_model
    proc = _edgekit("deploy", str(path), "--board", "nucleo", "--emulate", "--precision", "float32", "--calib",
                    str(data), "--work-dir", str(tmp_path / "w"))
    assert proc.returncode != 0 and "give one of them" in proc.stderr
    proc = _edgekit("deploy", str(path), "--board", "nucleo", "--emulate", "--work-dir", str(tmp_path / "w2"))
    assert proc.returncode != 0 and "float model" in proc.stderr  # without --precision float32: as before
    assert "edgekit quantize" in proc.stderr


# ---------------------------------------------------------------------------------------------
# emulated deploy


@needs_qemu
def test_deploy_float32_on_emulated_nucleo(small_model: tuple[Path, Path, nn.Module], tmp_path: Path) -> None:
    path, data, _ = small_model
    out = tmp_path / "r.json"
    proc = _edgekit("deploy", str(path), "--board", "nucleo", "--emulate", "--precision", "float32", "--data",
                    str(data), "--limit", "8", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["precision"] == "float32" and report["samples"] == 8
    assert report["within_tolerance"] is True and report["device_host_max_abs_lsb"] <= 1e-4
    assert report["device_host_top1_agreement"] == 100.0
    assert report["device_float"]["max_abs"] < 1e-4  # the float executor (torch) on the same inputs
    assert report["ticks_per_inference"]["unit"] == "instructions" and report["ticks_per_inference"]["mean"] > 0
    assert report["verdict"] in ("PASS", "WARN")
    assert "float32, tol" in proc.stdout and "hence a tolerance" in proc.stdout


@needs_qemu
def test_validate_float32_board_with_its_float_model(small_model: tuple[Path, Path, nn.Module],
                                                     tmp_path: Path) -> None:
    """`edgekit validate --precision float32 --model FLOAT` against float32 firmware already running
    (QEMU on a TCP serial port): the hash matches and the device is within tolerance of host mode;
    without --precision float32 the float model is refused with the way out."""
    import time

    from edgekit.device.emulator import free_port, qemu_command

    path, data, _ = small_model
    proc = _edgekit("deploy", str(path), "--board", "nucleo", "--emulate", "--precision", "float32", "--data",
                    str(data), "--limit", "1", "--work-dir", str(tmp_path / "work"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    elf = next((tmp_path / "work").glob("firmware/**/firmware.elf"))
    port = free_port()
    qemu = subprocess.Popen(qemu_command(elf, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        url = f"socket://127.0.0.1:{port}"
        out = tmp_path / "v.json"
        proc = _edgekit("validate", "--board", "nucleo", "--port", url, "--model", str(path), "--precision",
                        "float32", "--data", str(data), "--limit", "6", "--json", str(out))
        refused = _edgekit("validate", "--board", "nucleo", "--port", url, "--model", str(path), "--data",
                           str(data), "--limit", "2")
    finally:
        qemu.kill()
        qemu.wait()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["samples"] == 6 and report["within_tolerance"] is True
    assert report["device_host_max_abs_lsb"] <= 1e-4 and report["device_host_top1_agreement"] == 100.0
    assert refused.returncode != 0 and "--precision float32" in refused.stderr
    assert "Traceback" not in refused.stderr
