"""Write seed inputs (valid frames and sessions) for the protocol fuzzer."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edgekit.device import protocol as P  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    hello = P.encode(P.Msg.HELLO_REQ, 1)
    begin = P.encode(P.Msg.INFER_BEGIN, 2, P.pack_begin(1, 64, True))
    data = [P.encode(P.Msg.INFER_DATA, 3 + i, P.pack_data(1, 16 * i, bytes(range(16 * i, 16 * i + 16))))
            for i in range(4)]  # fmt: skip
    seeds = {
        "hello": hello,
        "session": hello + begin + b"".join(data),
        "garbage": b"\xeb\x4b\xeb" + hello[:5] + begin,
        "layers": P.encode(P.Msg.LAYERS_REQ, 9),
        "bad_begin": P.encode(P.Msg.INFER_BEGIN, 2, P.pack_begin(1, 65, False)),
        "reset_exit": P.encode(P.Msg.RESET, 4) + P.encode(P.Msg.EXIT, 5, b"\x00"),
    }
    for name, blob in seeds.items():
        (out / name).write_bytes(blob)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
