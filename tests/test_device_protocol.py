"""Host-side wire protocol: framing, CRC, resynchronisation, payload round trips."""

from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.device import protocol as P


def test_frame_layout_is_documented_one() -> None:
    f = P.encode(P.Msg.HELLO_REQ, 5)
    assert f == bytes.fromhex("eb4b 0105 0000 d6 927a339f".replace(" ", ""))
    assert f[6] == P.crc8(f[2:6])
    assert int.from_bytes(f[7:], "little") == zlib.crc32(f[2:6])


def test_decoder_round_trip_and_split_delivery() -> None:
    frames = [P.encode(P.Msg.INFER_DATA, i, bytes(range(i, i + 40))) for i in range(1, 6)]
    stream = b"".join(frames)
    dec = P.Decoder()
    got = []
    for i in range(0, len(stream), 3):  # 3 bytes at a time
        got += dec.feed(stream[i : i + 3])
    assert [(f.seq, f.payload) for f in got] == [(i, bytes(range(i, i + 40))) for i in range(1, 6)]
    assert dec.pending() == 0 and dec.dropped == 0


def test_corrupted_frame_is_dropped_and_next_one_found() -> None:
    good = P.encode(P.Msg.ACK, 9, bytes(8))
    bad = bytearray(P.encode(P.Msg.ACK, 8, bytes(8)))
    bad[10] ^= 0x40
    dec = P.Decoder()
    got = dec.feed(bytes(bad) + good)
    assert [f.seq for f in got] == [9]
    assert dec.crc_errors == 1


def test_truncated_frame_followed_by_frame_resyncs() -> None:
    stub = P.encode(P.Msg.RESULT, 1, bytes(100))[:30]
    good = P.encode(P.Msg.ACK, 2, bytes(8))
    filler = bytes(120)  # no sync bytes: completes the stub, which then fails its CRC
    got = P.Decoder().feed(stub + good + filler)
    assert [f.seq for f in got] == [2]


def test_resync_after_stalled_bogus_header() -> None:
    dec = P.Decoder()
    bogus = P.encode(P.Msg.RESULT, 1, bytes(3000))[:7]  # header promising 3000 bytes
    good = P.encode(P.Msg.ACK, 3, bytes(8))
    assert dec.feed(bogus + good) == []
    assert [f.seq for f in dec.resync()] == [3]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200), st.integers(0, 255), st.binary(max_size=300))
def test_frames_survive_surrounding_garbage(pre: bytes, post: bytes, seq: int, payload: bytes) -> None:
    frame = P.encode(P.Msg.RESULT, seq, payload)
    got = P.Decoder(max_payload=4096).feed(pre + frame + post + bytes(4200))
    assert any(f.seq == seq and f.payload == payload for f in got)


def test_random_garbage_never_yields_a_frame_with_bad_crc() -> None:
    rng = random.Random(0)
    dec = P.Decoder()
    for f in dec.feed(rng.randbytes(200_000)):
        raw = P.encode(f.type, f.seq, f.payload)
        assert zlib.crc32(raw[2:6] + f.payload) == int.from_bytes(raw[-4:], "little")


def test_hello_and_result_round_trip() -> None:
    t_in = P.TensorSpec("int8", (1, 8, 8, 1), 64, 0.0078125, 0)
    t_out = P.TensorSpec("int8", (1, 10), 10, 0.0625, -3)
    info = P.DeviceInfo(1, 1, True, False, "instructions", 180_000_000, 0x5EEDF00D, 128, 0, 3, 256,
                        t_in, t_out, "nucleo-f446re", "fake")  # fmt: skip
    assert P.parse_hello(P.pack_hello(info)) == info
    r = P.Result(7, 0, 15000, 0xDEADBEEF, bytes(range(10)), (1, 2, 3))
    assert P.parse_result(P.pack_result(r)) == r
    with pytest.raises(ValueError):
        P.parse_result(P.pack_result(r)[:-1])
    with pytest.raises(ValueError):
        P.parse_hello(P.pack_hello(info) + b"x")
