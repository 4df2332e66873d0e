"""The TFLite importer survives mutated and truncated models: it raises EdgekitError or returns a
graph, never another exception, and never hangs. 4 × 600 variants of the MLPerf Tiny models plus
variants of self-built models (so a fresh clone without ../shared still fuzzes the reader)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.errors import EdgekitError
from edgekit.frontends.tflite import parse_tflite
from tests.conftest import MLPERF_INT8, shared_model

PER_MODEL = 1000
_cache: dict[str, bytes] = {}


def _model_bytes(stem: str) -> bytes:
    if stem not in _cache:
        _cache[stem] = shared_model(stem).read_bytes()
    return _cache[stem]


def _mutate(data: bytes, kind: int, a: int, b: int, payload: bytes) -> bytes:
    n = len(data)
    if kind == 0:  # truncate
        return data[: a % n]
    buf = bytearray(data)
    if kind == 1:  # flip bytes at a few positions
        for k, byte in enumerate(payload):
            buf[(a + k * (b + 1)) % n] ^= byte or 0xFF
        return bytes(buf)
    if kind == 2:  # overwrite a 4-byte word (offsets, lengths, vtable entries) with a chosen value
        pos = (a % max(n - 4, 1)) & ~3
        buf[pos:pos + 4] = (b & 0xFFFFFFFF).to_bytes(4, "little")
        return bytes(buf)
    if kind == 3:  # insert bytes
        pos = a % n
        return bytes(buf[:pos] + payload + buf[pos:])
    pos = a % n  # delete a range
    return bytes(buf[:pos] + buf[pos + 1 + b % 64:])


def _check(data: bytes) -> None:
    t0 = time.perf_counter()
    try:
        parse_tflite(data, what="fuzzed model")
    except EdgekitError as err:
        assert str(err) and "\n" not in str(err)
    assert time.perf_counter() - t0 < 5.0, "importer took too long on a mutated model"


mutations = st.tuples(
    st.integers(0, 4), st.integers(0, 2**31), st.integers(0, 2**32 - 1), st.binary(min_size=1, max_size=16)
)


@pytest.mark.parametrize("stem", MLPERF_INT8)
def test_importer_survives_mutated_mlperf_models(stem: str) -> None:
    data = _model_bytes(stem)

    @settings(max_examples=PER_MODEL, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations)
    def run(m: tuple[int, int, int, bytes]) -> None:
        _check(_mutate(data, *m))

    run()


def test_importer_survives_mutated_self_built_models() -> None:
    from edgekit.tflite.writer import build_tflite
    from tests.modelgen import OP_GENERATORS, random_chain

    rng = np.random.default_rng(7)
    seeds = [build_tflite(random_chain(rng, 6)) for _ in range(3)]
    seeds += [build_tflite(gen(rng)) for gen in list(OP_GENERATORS.values())[:6]]

    @settings(max_examples=400, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(seeds) - 1), mutations)
    def run(i: int, m: tuple[int, int, int, bytes]) -> None:
        _check(_mutate(seeds[i], *m))

    run()


GARBAGE = [b"", b"\x00" * 3, b"TFL3", bytes(range(256)) * 4, b"\x10\x00\x00\x00TFL3" + b"\xff" * 64]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_is_a_model_format_error(data: bytes) -> None:
    with pytest.raises(EdgekitError):
        parse_tflite(data)
