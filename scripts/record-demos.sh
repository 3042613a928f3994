#!/usr/bin/env bash
# Regenerate the shipped recordings with the real demo (local processes, so
# no Docker is needed) and their asciicast exports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/cutover
"$BIN" demo --no-tui --runtime process --scenario bad --duration 40s --record recordings/rollback.jsonl
"$BIN" demo --no-tui --runtime process --scenario good --duration 60s --record recordings/promote.jsonl
"$BIN" export recordings/rollback.jsonl --asciicast recordings/rollback.cast --size 120x36
"$BIN" export recordings/promote.jsonl --asciicast recordings/promote.cast --size 120x36
echo "recordings regenerated; review the replay snapshots: cargo insta test --review (tests/replay_recordings.rs)"
