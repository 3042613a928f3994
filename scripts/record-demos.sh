#!/usr/bin/env bash
# Regenerate the shipped recordings with the real demo (local processes, so
# no Docker is needed) and their asciicast exports:
#   recordings/rollback.jsonl  bad canary: stable serving alone, canary
#                              warmed, step 1, failing under step 2's
#                              traffic, guard breach, rollback, stable alone
#                              again (35 s)
#   recordings/promote.jsonl   good canary promoted through every step (30 s)
# Both carry the per-second samples `cutover backtest` judges (journal 1.1).
# Each demo exits non-zero unless its scenario ended as expected, which
# stops this script. Afterwards review the replay snapshots deliberately:
#   cargo insta test --review  (tests/replay_recordings.rs)
# and redraw the README's cockpit frame from the new recording:
#   scripts/doc-blocks.sh
# CUTOVER_BIN=path/to/cutover uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CUTOVER_BIN:-}" ]; then
  BIN="$CUTOVER_BIN"
else
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/cutover"
fi
"$BIN" demo --no-tui --runtime process --scenario bad --duration 35s --record recordings/rollback.jsonl
"$BIN" demo --no-tui --runtime process --scenario good --duration 30s --record recordings/promote.jsonl
"$BIN" export recordings/rollback.jsonl --asciicast recordings/rollback.cast --size 120x36
"$BIN" export recordings/promote.jsonl --asciicast recordings/promote.cast --size 120x36
for r in rollback promote; do
  "$BIN" replay "recordings/$r.jsonl" --no-tui | python3 -c '
import json, sys
o = json.load(sys.stdin)
path = " -> ".join([o["phases"][0][0]] + [to for _, to in o["phases"]])
secs = o["duration_ms"] / 1000
events, breaches = o["events"], o["breaches"]
print(f"{sys.argv[1]}: {secs:.1f} s, {events} events, {breaches} breach(es), phases: {path}")
' "$r"
done
# They carry per-second samples (journal 1.1): the backtest judges them again
# with their own thresholds (it refuses a recording without samples).
for r in rollback promote; do
  echo "$r: $("$BIN" backtest "recordings/$r.jsonl" | grep '  → ')"
done
echo "recordings regenerated; review the replay snapshots: cargo insta test --review (tests/replay_recordings.rs), then run scripts/doc-blocks.sh"
