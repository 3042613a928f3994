#!/usr/bin/env bash
# Short fuzz runs of the plan parser, the journal reader and the admin
# request decoding (cargo-fuzz, which needs a nightly toolchain). The same
# properties run on stable in `cargo test` as proptests:
#   tests/plan_errors.rs (parse never panics), tests/journal_reader.rs
#   (arbitrary bytes), tests/admin_api.rs (arbitrary request bodies).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-30}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain here (rustup toolchain install nightly); the proptest mirrors run in cargo test"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz); the proptest mirrors run in cargo test"
  exit 0
fi
for target in plan journal admin_request; do
  echo "== fuzz $target for ${SECS}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$SECS"
done
