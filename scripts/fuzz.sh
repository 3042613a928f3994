#!/usr/bin/env bash
# Short fuzz runs of the plan parser, the journal reader, the admin
# request decoding and the public listener's head parsing and framing
# watchdog (cargo-fuzz, libFuzzer). cargo-fuzz wants a nightly
# toolchain for its -Z sanitizer flags; where only stable is installed,
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. The same
# properties run on stable in `cargo test` as proptests:
#   tests/plan_errors.rs (parse never panics), tests/journal_reader.rs
#   (arbitrary bytes), tests/admin_api.rs (arbitrary request bodies),
#   src/proxy/framing.rs (verdicts independent of read boundaries).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# cargo-fuzz is installed from crates.io when missing. If it cannot be had,
# the script says that nothing was fuzzed and exits 2,
# so a check that relies on it cannot pass silently; FUZZ_OPTIONAL=1 turns
# that into exit 0 (for machines where fuzzing is knowingly skipped).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-30}

not_run() {
  echo "fuzz: NOT RUN — $1; nothing was fuzzed (the proptest mirrors run in cargo test)" >&2
  if [ "${FUZZ_OPTIONAL:-0}" = "1" ]; then
    echo "fuzz: FUZZ_OPTIONAL=1, so this is not a failure" >&2
    exit 0
  fi
  echo "fuzz: set FUZZ_OPTIONAL=1 to allow skipping" >&2
  exit 2
}

if cargo +nightly --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >/dev/null 2>&1 || not_run "cargo-fuzz is not installed and could not be (cargo install cargo-fuzz)"
fi
for target in plan journal admin_request framing; do
  echo "== fuzz $target for ${SECS}s"
  log=$(mktemp)
  # A target's dictionary (fuzz/dicts/TARGET.dict) seeds it with tokens it
  # would take long to find (HTTP header names for the framing target).
  dict=()
  [ -f "dicts/$target.dict" ] && dict=(-dict="dicts/$target.dict")
  if ! "${fuzz[@]}" run "$target" -- -max_total_time="$SECS" "${dict[@]}" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target failed (a crash is saved in fuzz/artifacts/$target)"
    exit 1
  fi
  grep -E "^Done" "$log" || tail -3 "$log"
  rm -f "$log"
done
echo "fuzz: all targets ran ${SECS}s each without a crash"
