#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a short while (FUZZ_SECONDS, default 15),
# installing what is missing first: cargo-fuzz and nightly (minimal profile; where no toolchain can
# be fetched, the default one with RUSTC_BOOTSTRAP=1 instead). `npm test` runs it right after the
# native unit tests; for a longer hunt: FUZZ_SECONDS=600 bash scripts/fuzz.sh.
# libFuzzer's output goes to fuzz/target/fuzz-logs/<target>.log (shown when a target fails); a
# failing input is saved under fuzz/artifacts/<target>/ and replays with
# `cargo +nightly fuzz run <target> <that file>`. Ends with a cargo-style `test result:` line,
# one test per target, which scripts/test.mjs counts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[fuzz] %s\n' "$*"; }
targets=(path_join jwt_claims response_sort)
seconds=${FUZZ_SECONDS:-15}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  say "installing cargo-fuzz; about 2 minutes on 2 cores"
  # No --locked: see scripts/setup.sh.
  cargo install cargo-fuzz >&2
fi

# cargo-fuzz passes -Z flags (the sanitizer), so it wants nightly.
toolchain=(+nightly)
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly-'; then
  say "installing the nightly toolchain (minimal profile) for cargo-fuzz"
  if ! timeout 900 rustup toolchain install nightly --profile minimal >&2; then
    # A machine that cannot fetch a toolchain still fuzzes: the default one accepts the -Z flags
    # under RUSTC_BOOTSTRAP=1 (checked with stable 1.95).
    say "no nightly to be had: fuzzing with the default toolchain and RUSTC_BOOTSTRAP=1"
    toolchain=()
    export RUSTC_BOOTSTRAP=1
  fi
fi

say "building ${targets[*]}"
cargo "${toolchain[@]}" fuzz build >&2

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
passed=0
failed=0
for t in "${targets[@]}"; do
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=$PWD/fuzz/dict/$t.dict")
  if cargo "${toolchain[@]}" fuzz run "$t" -- -max_total_time="$seconds" "${dict[@]}" >"$logs/$t.log" 2>&1; then
    passed=$((passed + 1))
    say "$t: ok, $(grep -E '^Done [0-9]+ runs' "$logs/$t.log" | tail -n 1 || echo 'done')"
  else
    failed=$((failed + 1))
    say "$t: FAILED; the end of $logs/$t.log:"
    tail -n 40 "$logs/$t.log"
  fi
done

if [ "$failed" -eq 0 ]; then
  echo "test result: ok. $passed passed; 0 failed (fuzz targets, ${seconds}s each)"
else
  echo "test result: FAILED. $passed passed; $failed failed (fuzz targets, ${seconds}s each)"
  exit 1
fi
