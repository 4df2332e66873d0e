"""Tests of edgekit.validate: the metrics of a validation run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.errors import DataError
from edgekit.validate import ValidationResult, compute_validation

SCALE, ZP = 0.5, -10


def _run(**overrides: object) -> ValidationResult:
    # 4 samples, 3 classes; dequantized device outputs are (q + 10) * 0.5
    device = np.asarray([[10, -10, -10], [-10, 10, -10], [-10, -10, 10], [10, -10, -10]], np.int8)
    host = device.copy()
    host[3, 1] = -7  # one sample differs by 3 LSB, same top-1
    floats = (device.astype(np.float64) - ZP) * SCALE
    floats[0, 0] += 1.0  # one element off by 1.0
    kwargs: dict[str, object] = {
        "host_outputs": host,
        "float_outputs": floats.astype(np.float32),
        "labels": [0, 1, 1, 0],
        "class_names": ["a", "b", "c"],
        "output_scale": SCALE,
        "output_zero_point": ZP,
        "ticks": [100, 110, 120, 130],
        "tick_unit": "instructions",
        "layer_ticks": [[60, 40], [70, 40], [80, 40], [90, 40]],
        "layer_names": ["conv", "fc"],
        "rom_bytes": 1000,
        "ram_bytes": 500,
        "arena_bytes": 300,
        "board_flash_bytes": 2000,
        "board_sram_bytes": 400,
        "board": "nucleo-f446re",
        "emulated": True,
    }
    kwargs.update(overrides)
    return ValidationResult.compute(device, **kwargs)  # type: ignore[arg-type]


def test_agreement_and_accuracy() -> None:
    r = _run()
    assert r.samples == 4 and r.labelled == 4
    assert r.device_host_bitexact == 3 and r.bitexact_all is False
    assert r.device_host_max_abs_lsb == 3.0
    assert r.device_host_top1_agreement == 100.0
    assert r.accuracy == {"device": 75.0, "host": 75.0, "float": 75.0}
    assert r.per_class_accuracy["device"] == {"a": 100.0, "b": 50.0}
    assert r.confusion == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_device_vs_float_metrics() -> None:
    m = _run().device_float
    assert m is not None
    assert m["rmse"] == pytest.approx(np.sqrt(1.0 / 12))
    assert m["mae"] == pytest.approx(1.0 / 12)
    assert m["max_abs"] == pytest.approx(1.0)
    assert m["top1_agreement"] == 100.0
    device = np.asarray([10, 0, 0, 0, 10, 0, 0, 0, 10, 10, 0, 0], np.float64)
    ref = device.copy()
    ref[0] = 11
    expected_cos = device @ ref / (np.linalg.norm(device) * np.linalg.norm(ref))
    assert m["cosine"] == pytest.approx(expected_cos)
    assert m["l2r"] == pytest.approx(1.0 / np.linalg.norm(ref))
    histogram = _run().error_histogram
    assert histogram is not None and sum(histogram["counts"]) == 12
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1


def test_ticks_instructions_have_no_ms() -> None:
    r = _run()
    assert r.ticks_per_inference == {
        "mean": 115.0,
        "min": 100.0,
        "max": 130.0,
        "std": pytest.approx(np.std([100, 110, 120, 130])),
        "unit": "instructions",
    }
    assert r.ms_per_inference is None
    assert r.layer_ticks == [("conv", 75.0), ("fc", 40.0)]


def test_cycles_on_hardware_give_ms() -> None:
    r = _run(tick_unit="cycles", clock_hz=1000.0, emulated=False, ticks=[1000, 2000, 3000, 2000])
    assert r.ms_per_inference == {"mean": 2000.0, "min": 1000.0, "max": 3000.0}


def test_memory_fit() -> None:
    assert _run().fits is False  # RAM 500 > 400
    assert _run(ram_bytes=400).fits is True
    assert _run(board_flash_bytes=None, board_sram_bytes=None).fits is None


def test_without_optional_parts() -> None:
    device = np.asarray([[1, 2], [3, 0]], np.int8)
    r = compute_validation(device)
    assert r.accuracy == {} and r.device_host_bitexact is None and r.device_float is None
    assert r.ticks_per_inference is None and r.bitexact_all is None
    j = r.to_json()
    assert j["samples"] == 2 and j["board"] == "host"


def test_float_model_outputs_and_single_sigmoid_output() -> None:
    device = np.asarray([[0.9], [0.2], [0.6]], np.float32)
    r = compute_validation(device, host_outputs=device.copy(), float_outputs=device, labels=[1, 0, 0])
    assert r.device_host_bitexact == 3
    assert r.accuracy["device"] == pytest.approx(200 / 3, abs=1e-3)
    assert r.device_float is not None and r.device_float["rmse"] == 0.0
    assert r.device_float["cosine"] == pytest.approx(1.0)


def test_json_has_the_contract_keys_and_round_trips() -> None:
    r = _run()
    data = json.loads(json.dumps(r.to_json()))
    for key in (
        "board",
        "emulated",
        "samples",
        "device_host_bitexact",
        "accuracy",
        "ticks_per_inference",
        "rom_bytes",
        "ram_bytes",
        "arena_bytes",
        "board_flash_bytes",
        "board_sram_bytes",
    ):
        assert key in data
    assert set(data["accuracy"]) == {"device", "host", "float"}
    assert set(data["ticks_per_inference"]) >= {"mean", "min", "max", "unit"}
    assert data["layer_ticks"] == [{"name": "conv", "mean": 75.0}, {"name": "fc", "mean": 40.0}]
    assert ValidationResult.from_json(data) == r
    with pytest.raises(DataError):
        ValidationResult.from_json({"samples": 3})


def test_errors() -> None:
    with pytest.raises(DataError, match="4 outputs but 3 labels"):
        _run(labels=[0, 1, 2])
    with pytest.raises(DataError, match="host outputs: 2 samples"):
        _run(host_outputs=np.zeros((2, 3), np.int8))
    with pytest.raises(DataError, match="tick unit"):
        _run(tick_unit="seconds")
    with pytest.raises(DataError, match="tick counts"):
        _run(ticks=[1, 2])
    with pytest.raises(DataError, match="layer names"):
        _run(layer_names=["only one"])
