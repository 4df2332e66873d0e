"""Shared fixtures: locations of ../shared data (tests that need it skip when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MLPERF = SHARED / "models" / "mlperf_tiny"
CIFAR_TEST = SHARED / "datasets" / "cifar10" / "cifar10_test_jpeg.npz"
MLPERF_INT8 = ["pretrainedResnet_quant", "vww_96_int8", "kws_ref_model", "ad01_int8"]


def shared_model(stem: str) -> Path:
    path = MLPERF / f"{stem}.tflite"
    if not path.exists():
        pytest.skip(f"needs ../shared/models/mlperf_tiny/{stem}.tflite (../shared is absent)")
    return path


@pytest.fixture
def cifar_test_path() -> Path:
    if not CIFAR_TEST.exists():
        pytest.skip("needs ../shared/datasets/cifar10/cifar10_test_jpeg.npz (../shared is absent)")
    return CIFAR_TEST
