#!/usr/bin/env bash
# Fuzz the device-side protocol parser + harness (firmware/harness) with libFuzzer, ASan, UBSan.
# Usage: tools/fuzz/run_protocol_fuzz.sh [RUNS] [OUT_DIR]       (default 1200000 runs)
# Needs clang with libFuzzer (Debian: apt-get install clang). Exits non-zero on any crash.
set -euo pipefail
RUNS="${1:-1200000}"
OUT="${2:-${TMPDIR:-/tmp}/edgekit-fuzz}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLANG="${CLANG:-clang}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
command -v "$CLANG" >/dev/null || { echo "clang not found: apt-get install clang" >&2; exit 2; }
mkdir -p "$OUT/corpus"
"$PY" "$ROOT/tools/fuzz/gen_seeds.py" "$OUT/seeds"
"$CLANG" -g -O1 -std=c99 -Wall -Wextra -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$ROOT/firmware/harness" -I"$ROOT/firmware/runtime" -I"$ROOT/tests/fixtures/fake_model" \
  "$ROOT/tools/fuzz/fuzz_protocol.c" "$ROOT/firmware/harness/ek_proto.c" "$ROOT/firmware/harness/ek_harness.c" \
  "$ROOT/tests/fixtures/fake_model/fake.c" "$OUT/binding.c" -o "$OUT/fuzz_protocol" 2>/dev/null || {
  # the binding is generated from the same template as the firmware's
  "$PY" - "$ROOT" "$OUT/binding.c" <<'PYEOF'
import sys, pathlib, jinja2
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
t = jinja2.Template((root / "codegen/platformio/ek_binding.c.j2").read_text())
out.write_text(t.render(name="fake", header="fake.h", input_bytes=64, output_bytes=10, num_layers=3))
PYEOF
  "$CLANG" -g -O1 -std=c99 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$ROOT/firmware/harness" -I"$ROOT/firmware/runtime" -I"$ROOT/tests/fixtures/fake_model" \
    "$ROOT/tools/fuzz/fuzz_protocol.c" "$ROOT/firmware/harness/ek_proto.c" "$ROOT/firmware/harness/ek_harness.c" \
    "$ROOT/tests/fixtures/fake_model/fake.c" "$OUT/binding.c" -o "$OUT/fuzz_protocol"
}
cd "$OUT"
./fuzz_protocol -runs="$RUNS" -max_len=1024 -print_final_stats=1 corpus seeds 2>&1 | tee fuzz.log | \
  grep -E "^(#[0-9]+\s+(INITED|DONE)|stat::number_of_executed_units|==[0-9]+==ERROR)" || true
grep -q "stat::number_of_executed_units" fuzz.log && ! grep -q "ERROR: \|SUMMARY: " fuzz.log
