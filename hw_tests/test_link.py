"""Device link behaviour: hello, bit-exact inference, determinism, and failure handling."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from edgekit.device import protocol as P
from edgekit.device.client import DeviceClient
from edgekit.device.serial_link import SerialLink
from edgekit.errors import DeviceError
from hw_tests.faults import FaultyLink, garbage
from tests.fixtures.fake_model import reference

RNG = np.random.default_rng(1234)


def sample(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=reference.INPUT_SHAPE, dtype=np.int8)


def test_hello_describes_the_fake_model(client: DeviceClient, board) -> None:
    info = client.hello()
    assert info.proto_version == P.PROTO_VERSION
    assert info.model_name == "fake" and info.model_hash == reference.MODEL_HASH
    assert info.input.shape == reference.INPUT_SHAPE and info.input.dtype == "int8"
    assert info.output.shape == reference.OUTPUT_SHAPE and info.output.zero_point == -3
    assert info.board == board.name
    assert info.num_layers == 3 and info.arena_bytes == 128
    assert info.tick_unit == ("instructions" if info.emulated else "cycles")
    assert client.layer_names() == reference.LAYER_NAMES


def test_inference_is_bit_exact_with_reference(client: DeviceClient) -> None:
    client.hello()
    for seed in range(20):
        x = sample(seed)
        r = client.infer(x, per_layer=seed % 2 == 1)
        np.testing.assert_array_equal(r.output, reference.run(x))
        assert r.ticks > 0
        if r.layer_ticks is not None:
            assert len(r.layer_ticks) == 3 and 0 < sum(r.layer_ticks) <= r.ticks


def test_instruction_counts_are_repeatable(client: DeviceClient, emulated: bool) -> None:
    client.hello()
    x = sample(7)
    ticks = [client.infer(x).ticks for _ in range(5)]
    layers = [client.infer(x, per_layer=True).layer_ticks for _ in range(3)]
    if emulated:
        assert len(set(ticks)) == 1, ticks
        assert len(set(layers)) == 1, layers
    else:  # cycles on hardware: flash wait states and caches allow a little jitter
        assert max(ticks) - min(ticks) <= 0.01 * min(ticks) + 8, ticks


def test_garbage_between_frames_host_to_device(client: DeviceClient) -> None:
    rng = random.Random(5)
    client.hello()
    client.link = FaultyLink(client.link, on_write=lambda n, d: garbage(rng, rng.randrange(1, 40)) + d)
    client.chunk_bytes = 16
    for seed in range(8):
        x = sample(100 + seed)
        np.testing.assert_array_equal(client.infer(x).output, reference.run(x))


def test_garbage_between_frames_device_to_host(client: DeviceClient) -> None:
    rng = random.Random(6)
    client.hello()
    dec = P.Decoder()

    def between_frames(d: bytes) -> bytes:  # re-frame what came, with garbage around every frame
        frames = dec.feed(d)
        return b"".join(garbage(rng, 23) + P.encode(f.type, f.seq, f.payload) for f in frames) + garbage(
            rng, 5
        )

    client.link = FaultyLink(client.link, on_read=between_frames)
    for seed in range(8):
        x = sample(200 + seed)
        np.testing.assert_array_equal(client.infer(x).output, reference.run(x))


def test_truncated_frames_are_skipped(client: DeviceClient) -> None:
    client.hello()
    stub = P.encode(P.Msg.INFER_DATA, 77, P.pack_data(999, 0, bytes(48)))
    # a truncated frame with a valid header swallows the start of the next frame: resync finds it
    client.link = FaultyLink(client.link, on_write=lambda n, d: (stub[: 7 + n % 30] + d) if n % 3 == 0 else d)
    client.chunk_bytes = 16
    client.timeout = 0.5
    client.retries = 12
    for seed in range(6):
        x = sample(300 + seed)
        np.testing.assert_array_equal(client.infer(x).output, reference.run(x))


def test_corrupted_frames_are_retransmitted_never_misread(client: DeviceClient) -> None:
    client.hello()
    client.timeout = 0.5
    flips = {"n": 0}

    def flip_read(d: bytes) -> bytes:  # damage every 3rd chunk coming back (results included)
        flips["n"] += 1
        if flips["n"] % 3 == 0 and len(d) > 12:
            b = bytearray(d)
            b[len(b) // 2] ^= 0x5A
            return bytes(b)
        return d

    def flip_write(n: int, d: bytes) -> bytes:
        if n % 4 == 1:
            b = bytearray(d)
            b[-6] ^= 0x01  # a payload or CRC byte: the device must reject the frame
            return bytes(b)
        return d

    client.link = FaultyLink(client.link, on_write=flip_write, on_read=flip_read)
    client.chunk_bytes = 16
    client.retries = 12
    for seed in range(6):
        x = sample(400 + seed)
        np.testing.assert_array_equal(client.infer(x).output, reference.run(x))
    assert client.recoveries > 0


def test_device_reset_mid_stream(client: DeviceClient) -> None:
    client.hello()
    client.chunk_bytes = 16  # 4 chunks per 64-byte input
    reset = P.encode(P.Msg.RESET, 200)
    state = {"done": False}

    def inject(n: int, d: bytes) -> bytes:
        if not state["done"] and d[2] == P.Msg.INFER_DATA and n > 2:
            state["done"] = True
            return reset + d  # the device reboots between two chunks of one input
        return d

    client.link = FaultyLink(client.link, on_write=inject)
    x = sample(500)
    t0 = time.monotonic()
    np.testing.assert_array_equal(client.infer(x).output, reference.run(x))
    assert state["done"] and client.recoveries >= 1
    assert time.monotonic() - t0 < 15
    x2 = sample(501)  # and it keeps working
    np.testing.assert_array_equal(client.infer(x2).output, reference.run(x2))


def test_emulator_killed_mid_stream_fails_fast(emulator) -> None:
    c = DeviceClient(emulator.link, timeout=0.5, retries=2)
    c.hello()
    emulator.proc.kill()
    t0 = time.monotonic()
    with pytest.raises(DeviceError) as err:
        c.infer(sample(1))
    assert time.monotonic() - t0 < 10
    assert emulator.link.name in str(err.value)


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A TCP 'serial port' that accepts the connection and never says anything."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield f"socket://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    th.join()
    for c in conns:
        c.close()
    srv.close()


def test_port_that_never_answers(silent_port: str) -> None:
    with SerialLink(silent_port) as link:
        c = DeviceClient(link, timeout=0.4, retries=2)
        t0 = time.monotonic()
        with pytest.raises(DeviceError) as err:
            c.hello()
        elapsed = time.monotonic() - t0
    assert elapsed < 3 * 0.4 + 1.0
    msg = str(err.value)
    assert silent_port in msg and "HELLO" in msg and "nothing" in msg


def test_missing_port_is_a_clear_error() -> None:
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="/dev/ttyEDGEKIT_NONE"):
        SerialLink("/dev/ttyEDGEKIT_NONE", open_timeout=0.3)
    assert time.monotonic() - t0 < 3
