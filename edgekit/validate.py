"""Validation metrics: device vs host vs float model vs labels, latency and memory.

:meth:`ValidationResult.compute` turns the raw outputs of one validation run (the device's,
the host library's, optionally the float model's), the labels, the tick counts and the
firmware's memory figures into the numbers `edgekit validate` reports, in the spirit of
ST Edge AI's validate (acc, rmse, mae, cos, X-cross agreement, cycles per inference).

A result also holds `warnings` (implausible outcomes: top-1 at chance level, labels beyond the
model's outputs, …) and its :attr:`ValidationResult.verdict`: PASS only when at least one check
ran (device vs host bit-exact, memory fits the board), all passed and nothing was warned about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from edgekit.errors import DataError

TICK_UNITS = ("instructions", "cycles")
HISTOGRAM_BINS = 41
VERDICTS = ("PASS", "WARN", "FAIL", "NOT VALIDATED")
CHANCE_MIN_LABELLED = 20  # fewer labelled samples than this say nothing about chance level


@dataclass
class ValidationResult:
    """What one validation run measured. Percentages are 0..100; ticks in `tick_unit`."""

    board: str
    emulated: bool
    samples: int
    tick_unit: str = "instructions"
    clock_hz: float | None = None
    labelled: int = 0
    accuracy: dict[str, float] = field(default_factory=dict)
    per_class_accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    class_names: list[str] | None = None
    confusion: list[list[int]] | None = None
    device_host_bitexact: int | None = None
    device_host_max_abs_lsb: float | None = None
    device_host_top1_agreement: float | None = None
    #: float32 outputs (``--precision float32``): the largest |device − host| accepted instead of
    #: bit-exactness (None: integer outputs, which must be bit-exact)
    device_host_tolerance: float | None = None
    device_float: dict[str, float] | None = None
    host_float: dict[str, float] | None = None
    error_histogram: dict[str, list[float]] | None = None
    ticks_per_inference: dict[str, Any] | None = None
    ms_per_inference: dict[str, float] | None = None
    layer_ticks: list[tuple[str, float]] | None = None
    rom_bytes: int | None = None
    ram_bytes: int | None = None
    arena_bytes: int | None = None
    board_flash_bytes: int | None = None
    board_sram_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    preprocess: str | None = None  # one line: how raw samples became the model's input

    @classmethod
    def compute(
        cls,
        device_outputs: np.ndarray,
        *,
        host_outputs: np.ndarray | None = None,
        float_outputs: np.ndarray | None = None,
        labels: np.ndarray | Sequence[int] | None = None,
        class_names: Sequence[str] | None = None,
        output_scale: float = 1.0,
        output_zero_point: int = 0,
        ticks: np.ndarray | Sequence[int] | None = None,
        tick_unit: str = "instructions",
        clock_hz: float | None = None,
        layer_ticks: np.ndarray | Sequence[Sequence[int]] | None = None,
        layer_names: Sequence[str] | None = None,
        rom_bytes: int | None = None,
        ram_bytes: int | None = None,
        arena_bytes: int | None = None,
        board_flash_bytes: int | None = None,
        board_sram_bytes: int | None = None,
        board: str = "host",
        emulated: bool = False,
        warnings: Sequence[str] | None = None,
        preprocess: str | None = None,
        float_tolerance: float | None = None,
    ) -> ValidationResult:
        """Compute all metrics of a run.

        `device_outputs`/`host_outputs` are the raw (quantized, or float for float models)
        outputs of N samples, N×…; `float_outputs` the float model's outputs, N×… float;
        the quantized outputs are dequantized with `output_scale`/`output_zero_point` before
        they are compared with floats. `ticks` holds N per-inference counts, `layer_ticks`
        N×L per-layer counts named by `layer_names`. `warnings` (e.g. from the data checks) and
        `preprocess` (a one-line description of the input preprocessing) are reported as given;
        `float_tolerance` (float32 models) replaces the bit-exact check by |device − host| <=
        float_tolerance · max(1, max |host|) (the host and the device compilers and libm may
        round differently);
        with labels, the result warns itself about labels beyond the outputs, a class-name count
        that differs from them, and a top-1 at chance level.
        """
        if tick_unit not in TICK_UNITS:
            raise DataError(f"tick unit must be one of {list(TICK_UNITS)}, got {tick_unit!r}")
        device = _flat(device_outputs, "device outputs")
        n = len(device)
        host = _flat(host_outputs, "host outputs", n) if host_outputs is not None else None
        ref = _flat(float_outputs, "float-model outputs", n) if float_outputs is not None else None
        device_real = _dequantize(device, output_scale, output_zero_point)
        result = cls(
            board=board,
            emulated=emulated,
            samples=n,
            tick_unit=tick_unit,
            clock_hz=clock_hz,
            class_names=list(class_names) if class_names is not None else None,
            rom_bytes=rom_bytes,
            ram_bytes=ram_bytes,
            arena_bytes=arena_bytes,
            board_flash_bytes=board_flash_bytes,
            board_sram_bytes=board_sram_bytes,
            preprocess=preprocess,
        )
        for text in warnings or ():
            result.warn(text)
        if host is not None:
            result.device_host_bitexact = int(np.sum(np.all(device == host, axis=1)))
            diff = np.abs(device.astype(np.float64) - host.astype(np.float64))
            result.device_host_max_abs_lsb = _number(diff.max()) if diff.size else 0.0
            result.device_host_top1_agreement = _percent(np.mean(_top1(device) == _top1(host)))
            if float_tolerance is not None:
                if not np.all(np.isfinite(diff) | (device == host)):  # NaN/inf on one side only
                    result.device_host_max_abs_lsb = float("inf")
                peak = float(np.max(np.abs(host[np.isfinite(host)]), initial=0.0))
                result.device_host_tolerance = float(float_tolerance) * max(1.0, peak)
        if ref is not None:
            result.device_float = _compare(device_real, ref)
            result.error_histogram = _histogram(device_real - ref, output_scale)
            if host is not None:
                result.host_float = _compare(_dequantize(host, output_scale, output_zero_point), ref)
        if labels is not None:
            outputs = {"device": device, "host": host, "float": ref}
            result._score(np.asarray(labels), {k: v for k, v in outputs.items() if v is not None})
        if ticks is not None:
            result._latency(np.asarray(ticks, dtype=np.float64).reshape(-1), n)
        if layer_ticks is not None:
            result.layer_ticks = _layer_means(layer_ticks, layer_names)
        return result

    def _score(self, labels: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        labels = labels.reshape(-1).astype(np.int64)
        if len(labels) != self.samples:
            raise DataError(
                f"{self.samples} outputs but {len(labels)} labels; give one label per validated sample"
            )
        self.labelled = len(labels)
        width = next(iter(outputs.values())).shape[1]
        self._label_warnings(labels, width)
        num_classes = max(int(labels.max(initial=-1)) + 1, len(self.class_names or []))
        names = list(self.class_names or []) + [str(c) for c in range(len(self.class_names or []), num_classes)]
        for source, out in outputs.items():
            predicted = _top1(out)
            self.accuracy[source] = _percent(np.mean(predicted == labels))
            self.per_class_accuracy[source] = {
                names[c]: _percent(np.mean(predicted[labels == c] == c))
                for c in range(num_classes)
                if np.any(labels == c)
            }
            if source == "device":
                width = max(num_classes, int(predicted.max(initial=-1)) + 1)
                matrix = np.zeros((width, width), dtype=np.int64)
                np.add.at(matrix, (labels, predicted), 1)
                self.confusion = matrix.tolist()
        self._chance_warnings(_classes(width))

    def _label_warnings(self, labels: np.ndarray, width: int) -> None:
        classes = _classes(width)
        outputs = f"{width} output{'s' if width != 1 else ''}"
        if len(labels) and int(labels.max()) >= classes:
            self.warn(f"labels go up to {int(labels.max())} but the model has {outputs} (classes 0..{classes - 1}): "
                      "check the label file")
        if self.class_names is not None and len(self.class_names) != classes:
            self.warn(f"the data names {len(self.class_names)} classes but the model has {outputs}: "
                      "the per-class names may be wrong")

    def _chance_warnings(self, classes: int) -> None:
        """Warn when a top-1 is at chance level (:func:`chance_bound`)."""
        bound = chance_bound(classes, self.labelled)
        if bound is None:
            return
        at_chance = {s: v for s, v in self.accuracy.items() if v <= bound}
        float_top1 = self.accuracy.get("float")
        quantized = next((s for s in ("device", "host") if s in at_chance), None)
        if quantized is not None:
            top1 = at_chance[quantized]
            if float_top1 is not None and "float" not in at_chance:
                self.warn(f"{quantized} top-1 {top1:.1f} % is chance level for {classes} classes while the float "
                          f"model reaches {float_top1:.1f} %: the int8 model's inputs are probably not what it "
                          "expects (check its preprocessing: --pixel-scale/--pixel-offset)")
            else:
                self.warn(f"{quantized} top-1 {top1:.1f} % is chance level for {classes} classes: the inputs are "
                          "probably not what the model expects (check the preprocessing: --pixel-scale/--pixel-offset)")
        if "float" in at_chance:
            too = " too" if quantized is not None else ""
            self.warn(f"the float model's top-1 {at_chance['float']:.1f} % is chance level for {classes} classes{too}: "
                      "the data or its labels do not match the model (check the preprocessing and the label file)")

    def warn(self, text: str) -> None:
        """Add a warning (once): it is reported and makes the verdict WARN instead of PASS."""
        if text not in self.warnings:
            self.warnings.append(text)

    def _latency(self, ticks: np.ndarray, n: int) -> None:
        if len(ticks) == 0:
            return
        if len(ticks) != n:
            raise DataError(f"{n} outputs but {len(ticks)} tick counts; the device must time every run")
        self.ticks_per_inference = {
            "mean": _number(ticks.mean()),
            "min": _number(ticks.min()),
            "max": _number(ticks.max()),
            "std": _number(ticks.std()),
            "unit": self.tick_unit,
        }
        if self.tick_unit == "cycles" and self.clock_hz:
            ms = ticks * 1000.0 / self.clock_hz
            self.ms_per_inference = {
                "mean": _number(ms.mean()),
                "min": _number(ms.min()),
                "max": _number(ms.max()),
            }

    @property
    def bitexact_all(self) -> bool | None:
        """Whether every device output equals the host's (None without host outputs)."""
        if self.device_host_bitexact is None:
            return None
        return self.device_host_bitexact == self.samples

    @property
    def within_tolerance(self) -> bool | None:
        """float32 outputs: whether every device output is within the tolerance of the host's
        (None for integer outputs or without host outputs)."""
        if self.device_host_tolerance is None or self.device_host_max_abs_lsb is None:
            return None
        return self.device_host_max_abs_lsb <= self.device_host_tolerance

    @property
    def fits(self) -> bool | None:
        """Whether ROM and RAM fit the board (None when the sizes are unknown)."""
        checks = [
            used <= have
            for used, have in (
                (self.rom_bytes, self.board_flash_bytes),
                (self.ram_bytes, self.board_sram_bytes),
            )
            if used is not None and have is not None
        ]
        return all(checks) if checks else None

    @property
    def checks(self) -> dict[str, bool]:
        """The checks that ran, by name, and whether each passed."""
        agree = (("device vs host within float32 tolerance", self.within_tolerance)
                 if self.device_host_tolerance is not None else ("device vs host bit-exact", self.bitexact_all))
        named = (agree, ("memory fits the board", self.fits))
        return {name: passed for name, passed in named if passed is not None}

    @property
    def verdict(self) -> str:
        """FAIL when a check failed; NOT VALIDATED when none ran; WARN when all passed but there are
        warnings; PASS when at least one check ran, all passed and there are no warnings."""
        checks = self.checks
        if not all(checks.values()):
            return "FAIL"
        if not checks:
            return "NOT VALIDATED"
        return "WARN" if self.warnings else "PASS"

    @property
    def unchecked(self) -> list[str]:
        """Why checks did not run (empty when every check ran)."""
        reasons = []
        if self.bitexact_all is None:
            reasons.append("no host outputs to compare with")
        if self.fits is None:
            reasons.append("no memory limits")
        return reasons

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (plus `bitexact_all`, `fits` and `verdict`)."""
        data = asdict(self)
        if self.layer_ticks is not None:
            data["layer_ticks"] = [{"name": name, "mean": mean} for name, mean in self.layer_ticks]
        data["bitexact_all"] = self.bitexact_all
        if self.device_host_tolerance is not None:
            data["within_tolerance"] = self.within_tolerance
        data["fits"] = self.fits
        data["verdict"] = self.verdict
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationResult:
        """Rebuild a result from :meth:`to_json` output (e.g. to re-render a report)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "layer_ticks" in values and values["layer_ticks"] is not None:
            values["layer_ticks"] = [(d["name"], d["mean"]) for d in values["layer_ticks"]]
        if "warnings" in values:
            values["warnings"] = [str(w) for w in values["warnings"] or []]
        try:
            return cls(**values)
        except TypeError as exc:
            raise DataError(
                f"not a validation result JSON ({exc}); write it with `edgekit validate`"
            ) from exc


compute_validation = ValidationResult.compute


def chance_bound(classes: int, labelled: int) -> float | None:
    """The top-1 (percent) at or below which a K-class result is indistinguishable from chance:
    chance 100/K % plus two binomial standard deviations, or plus min(50 %, 5 points) of chance when
    that is larger; None with fewer than 20 labelled samples or fewer than 2 classes."""
    if labelled < CHANCE_MIN_LABELLED or classes < 2:
        return None
    p = 1.0 / classes
    chance = 100.0 * p
    sigma = 100.0 * float(np.sqrt(p * (1.0 - p) / labelled))
    return max(chance + 2.0 * sigma, min(1.5 * chance, chance + 5.0))


def _flat(outputs: np.ndarray, name: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(outputs)
    if array.ndim == 0:
        raise DataError(f"{name}: expected one output per sample, got a scalar")
    array = array.reshape(len(array), -1)
    if n is not None and len(array) != n:
        raise DataError(f"{name}: {len(array)} samples but the device gave {n}; validate the same samples")
    return array


def _dequantize(outputs: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if outputs.dtype.kind == "f":
        return outputs.astype(np.float64)
    return (outputs.astype(np.float64) - zero_point) * scale


def _classes(width: int) -> int:
    """Classes scored from `width` outputs: a single (sigmoid) output scores two."""
    return 2 if width == 1 else width


def _top1(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per sample: argmax, or value ≥ 0.5 for a single (sigmoid) output."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0].astype(np.float64) >= 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def _compare(real: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    ref = ref.astype(np.float64)
    err = real - ref
    norm = float(np.linalg.norm(real) * np.linalg.norm(ref))
    ref_norm = float(np.linalg.norm(ref))
    return {
        "rmse": _number(np.sqrt(np.mean(err**2))),
        "mae": _number(np.mean(np.abs(err))),
        "max_abs": _number(np.max(np.abs(err))) if err.size else 0.0,
        "l2r": _number(np.linalg.norm(err) / ref_norm) if ref_norm else 0.0,
        "cosine": _number(np.sum(real * ref) / norm) if norm else float(np.array_equal(real, ref)),
        "top1_agreement": _percent(np.mean(_top1(real) == _top1(ref))),
    }


def _histogram(err: np.ndarray, lsb: float) -> dict[str, list[float]]:
    bound = max(float(np.max(np.abs(err))) if err.size else 0.0, abs(lsb) / 2 or 1e-9)
    counts, edges = np.histogram(err.reshape(-1), bins=HISTOGRAM_BINS, range=(-bound, bound))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _layer_means(
    layer_ticks: np.ndarray | Sequence[Sequence[int]], layer_names: Sequence[str] | None
) -> list[tuple[str, float]]:
    table = np.asarray(layer_ticks, dtype=np.float64)
    table = table.reshape(1, -1) if table.ndim == 1 else table
    names = list(layer_names) if layer_names is not None else [f"layer {i}" for i in range(table.shape[1])]
    if len(names) != table.shape[1]:
        raise DataError(f"{table.shape[1]} per-layer tick columns but {len(names)} layer names")
    return [(name, _number(mean)) for name, mean in zip(names, table.mean(axis=0), strict=True)]


def _percent(fraction: float | np.floating) -> float:
    return round(float(fraction) * 100.0, 4)


def _number(value: float | np.floating) -> float:
    return float(value)
