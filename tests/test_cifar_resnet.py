"""ResNet-8 (MLPerf Tiny int8) on all 10,000 CIFAR-10 test images: the generated C gives exactly
TFLite Micro's outputs, and its top-1 is TFLite Micro's 75.56 %."""

from __future__ import annotations

from edgekit.data import Preprocess, load_dataset
from edgekit.pipeline import compile_model
from tests.conftest import shared_model
from tests.oracle import tflm_run


def test_resnet8_cifar10_all_test_images_identical_to_tflm(cifar_test_path, tmp_path) -> None:
    model = shared_model("pretrainedResnet_quant")
    data = load_dataset(cifar_test_path)
    assert len(data) == 10_000
    host = compile_model(model, name="resnet8", work_dir=tmp_path)
    info = host.info.input
    x = Preprocess.for_model(info.shape, info.dtype, info.scale, info.zero_point).apply(data.images)
    ours = host.run(x)
    ref = tflm_run(model, x)
    differing = int((ours != ref).reshape(len(x), -1).any(axis=1).sum())
    assert differing == 0, f"{differing} of 10,000 images differ from TFLite Micro"
    top1 = float((ours.reshape(len(x), -1).argmax(axis=1) == data.labels).mean() * 100)
    assert round(top1, 2) == 75.56
