"""The CIFAR-10 model zoo: architectures, documented sizes, committed weights and their accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.data import load_dataset
from edgekit.errors import EdgekitError
from edgekit.zoo import ZOO, count_macs, count_params, get_entry, load_zoo_model
from edgekit.zoo.models import ResNet8

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "zoo" / "results"
TRAINED = sorted(name for name, entry in ZOO.items() if entry.weights.exists())
# The recorded subset accuracy was measured by the training script on the same 500 images, with
# the same Pillow resize, through an algebraically identical normalisation ((x − 255·mean)/(255·std)
# there, x·scale + offset here). Only float rounding differs, which can flip an argmax whose top two
# logits tie to ~1e-6; allow 2 such images of 500 (0.4 points). A wrong preprocessing (no mean/std,
# wrong resize, NHWC) or wrong weights moves top-1 by tens of points.
SUBSET_TOLERANCE = 0.4


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_zoo_lists_its_models() -> None:
    assert set(ZOO) == {"resnet8", "mobilenetv2_64", "mcunet_128", "mobilevit_xxs", "deit_tiny", "efficientformer_xs"}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_builds_with_documented_size_and_shape(name: str) -> None:
    entry = ZOO[name]
    torch.manual_seed(0)
    model = entry.build().eval()
    assert count_params(model) == entry.params
    with torch.no_grad():
        out = model(torch.randn(2, *entry.input_shape))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_resnet8_is_the_mlperf_tiny_architecture() -> None:
    model = ResNet8()
    # Keras reports 78,666 parameters for the MLPerf Tiny ResNet-8, counting the 2·240
    # BatchNorm moving statistics; torch counts those as buffers.
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    assert count_params(model) + buffers == 78_666
    assert count_params(model) == 78_186
    assert count_macs(model, (3, 32, 32)) == 12_501_632
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 16, 32, 32, 32, 64, 64, 64]


def test_preprocess_matches_the_documented_normalisation() -> None:
    entry = get_entry("mobilenetv2_64")
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    x = entry.prepare(images)
    assert x.shape == (3, 3, 64, 64) and x.dtype == torch.float32
    flat = get_entry("resnet8").prepare(images)
    expect = (images.transpose(0, 3, 1, 2) / 255.0 - np.array(entry.mean)[:, None, None]) / np.array(entry.std)[
        :, None, None
    ]
    np.testing.assert_allclose(flat.numpy(), expect, atol=1e-5)


def test_unknown_name_is_an_edgekit_error() -> None:
    with pytest.raises(EdgekitError, match="resnet8"):
        get_entry("resnet9")


@pytest.mark.parametrize("name", TRAINED)
def test_committed_weights_load_under_2mb(name: str) -> None:
    model, entry = load_zoo_model(name)
    assert not model.training
    assert entry.weights.stat().st_size < 2 * 1024 * 1024
    result = json.loads((RESULTS / f"{name}.json").read_text())
    assert result["params"] == entry.params == count_params(model)
    assert result["macs"] == count_macs(model, entry.input_shape)


@pytest.mark.shared
@pytest.mark.parametrize("name", TRAINED)
def test_committed_weights_reach_recorded_top1(name: str, cifar_test_path: Path) -> None:
    result = json.loads((RESULTS / f"{name}.json").read_text())
    data = load_dataset(cifar_test_path, limit=500, seed=0)
    model, entry = load_zoo_model(name)
    with torch.no_grad():
        pred = model(entry.prepare(data.images)).argmax(1).numpy()
    top1 = 100.0 * float((pred == data.labels).mean())
    assert abs(top1 - result["top1_subset500_seed0"]) <= SUBSET_TOLERANCE


def test_nhwc_preprocess_is_the_nchw_one_transposed() -> None:
    entry = get_entry("mobilenetv2_64")
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    nhwc = entry.preprocess(channels_first=False).apply(images)
    assert nhwc.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(nhwc.transpose(0, 3, 1, 2), entry.prepare(images).numpy())


@pytest.mark.skipif("resnet8" not in TRAINED, reason="resnet8 weights not trained yet")
def test_frontend_checkpoint_converts_with_zoo_preprocessing(tmp_path: Path) -> None:
    from edgekit.frontends.torch_fx import load_torch_file
    from edgekit.zoo import save_for_frontend

    graph, pre = load_torch_file(save_for_frontend("resnet8", tmp_path / "resnet8.pt"))
    assert pre is not None and not pre.channels_first and pre.input_shape == (32, 32, 3)
    assert pre.to_dict() == get_entry("resnet8").preprocess(channels_first=False).to_dict()
    assert len(graph.tensors[graph.outputs[0]].shape) == 2
