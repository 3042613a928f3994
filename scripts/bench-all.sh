#!/usr/bin/env bash
# Every benchmark in one run, written into docs/BENCHMARKS.md:
#   1. proxy vs direct vs nginx (scripts/bench-proxy.sh)
#   2. guard reaction time at 50 and 500 req/s (cargo bench --bench reaction),
#      then the guards under simulation (cargo bench --bench guards_sim)
#   3. daemon memory under 5,000 req/s (cutover load against a static daemon)
#   4. TUI frame render time (cargo bench --bench render) and idle CPU (tmux)
#   5. replay speed of a 60 s recording
# SKIP_PROXY=1 leaves section 1 (and its table) as it is.
# Needs: nginx, wrk, tmux, python3 (Debian: apt-get install -y nginx-light wrk tmux).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/BENCHMARKS.md
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; tmux -L cutover-bench kill-server 2>/dev/null || true; rm -rf "$WORK"' EXIT

section() { # name file-with-body
  python3 - "$1" "$2" "$OUT" <<'PY'
import sys, pathlib
name, body, out = sys.argv[1], open(sys.argv[2]).read(), pathlib.Path(sys.argv[3])
text = out.read_text() if out.exists() else "# Benchmarks\n"
start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
block = f"{start}\n{body}\n{end}"
if start in text:
    text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
else:
    text += f"\n## {name}\n\n{block}\n"
out.write_text(text)
PY
}

echo "== 1. proxy"
if [ -n "${SKIP_PROXY:-}" ]; then
  echo "skipped (SKIP_PROXY set); building the release binary"
  cargo build --release --quiet
else
  bash scripts/bench-proxy.sh "${BENCH_SECONDS:-8}" 32
fi

echo "== 2. guard reaction"
cargo bench --quiet --bench reaction 2>/dev/null | grep '^|' > "$WORK/reaction.md"
cat "$WORK/reaction.md"
section reaction "$WORK/reaction.md"
# Thousands of simulated releases: a few minutes of CPU, deterministic output.
cargo bench --quiet --bench guards_sim 2>/dev/null > "$WORK/guards-sim.md"
cat "$WORK/guards-sim.md"
section guards-sim "$WORK/guards-sim.md"

BIN=$PWD/target/release/cutover
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "== 3. daemon memory under load"
S=$(free_port); C=$(free_port); P=$(free_port); A=$(free_port)
"$BIN" demo-app --bind 127.0.0.1 --port "$S" --version v1 2>/dev/null &
"$BIN" demo-app --bind 127.0.0.1 --port "$C" --version v2 2>/dev/null &
cat > "$WORK/plan.toml" <<TOML
service = "mem"
runtime = "static"
[listen]
public = "127.0.0.1:$P"
admin = "127.0.0.1:$A"
[stable]
upstreams = ["127.0.0.1:$S"]
[canary]
upstreams = ["127.0.0.1:$C"]
TOML
CUTOVER_LOG=warn "$BIN" up --plan "$WORK/plan.toml" --state-dir "$WORK/state" 2>/dev/null &
UP=$!
for _ in $(seq 100); do [ -f "$WORK/state/mem/admin.addr" ] && break; sleep 0.1; done
for _ in $(seq 100); do
  "$BIN" --state-dir "$WORK/state" status --json 2>/dev/null | grep -q '"phase": "canary"' && break
  sleep 0.2
done
"$BIN" --state-dir "$WORK/state" weight 50 --yes >/dev/null
IDLE_KB=$(awk '/VmRSS/ {print $2}' /proc/$UP/status)
"$BIN" load "http://127.0.0.1:$P/" --rps 5000 --duration 20s --concurrency 64 > "$WORK/load.txt"
PEAK_KB=$(awk '/VmHWM/ {print $2}' /proc/$UP/status)
NOW_KB=$(awk '/VmRSS/ {print $2}' /proc/$UP/status)
{
  echo "| daemon RSS | MiB |"
  echo "|---|---:|"
  echo "| idle (after start) | $(python3 -c "print(f'{$IDLE_KB/1024:.1f}')") |"
  echo "| peak during 20 s at 5,000 req/s (50/50 split) | $(python3 -c "print(f'{$PEAK_KB/1024:.1f}')") |"
  echo "| after the load | $(python3 -c "print(f'{$NOW_KB/1024:.1f}')") |"
  echo
  echo "load generator: $(head -1 "$WORK/load.txt")"
} > "$WORK/memory.md"
cat "$WORK/memory.md"
section memory "$WORK/memory.md"

echo "== 4. TUI"
cargo bench --quiet --bench render 2>/dev/null | grep -E "time:" | head -4 > "$WORK/render.txt" || true
tmux -L cutover-bench new-session -d -x 160 -y 48 "exec $BIN --state-dir $WORK/state tui"
sleep 3
TPID=$(tmux -L cutover-bench list-panes -F '#{pane_pid}' | head -1)
T0=$(awk '{print $14+$15}' /proc/$TPID/stat)
sleep 20
T1=$(awk '{print $14+$15}' /proc/$TPID/stat)
HZ=$(getconf CLK_TCK)
IDLE_CPU=$(python3 -c "print(f'{($T1-$T0)/$HZ/20*100:.2f}')")
tmux -L cutover-bench kill-server
{
  echo "One full frame at 160×48 and 80×24 (criterion, \`cargo bench --bench render\`):"
  echo
  sed 's/^/    /' "$WORK/render.txt"
  echo
  echo "Idle CPU of \`cutover tui\` attached to an idle daemon, 160×48, over 20 s: **$IDLE_CPU % of one core**."
} > "$WORK/tui.md"
cat "$WORK/tui.md"
section tui "$WORK/tui.md"

echo "== 5. replay speed"
# A fresh 60 s recording from the real demo, then `cutover replay --speed 100`
# in a real terminal (tmux), timed from launch until the banner says "■ end"
# (the issue's target: under 1 s), and the headless replay for comparison.
REC="$WORK/replay-60s.jsonl"
"$BIN" demo --no-tui --runtime process --scenario good --duration 60s --record "$REC" >/dev/null 2>&1
python3 - "$BIN" "$REC" > "$WORK/replay.md" <<'PY'
import json, statistics, subprocess, sys, time
exe, rec = sys.argv[1], sys.argv[2]
def tmux(*a):
    return subprocess.run(["tmux", "-L", "cutover-bench-replay", *a], capture_output=True, text=True)
out = json.loads(subprocess.check_output([exe, "replay", rec, "--no-tui"]))
secs, events = out["duration_ms"] / 1000, out["events"]
tui = []
for _ in range(5):
    tmux("kill-server")
    start = time.monotonic()
    tmux("new-session", "-d", "-x", "120", "-y", "36", f"exec {exe} replay {rec} --speed 100")
    while "■ end" not in tmux("capture-pane", "-p").stdout:
        if time.monotonic() - start > 60:
            sys.exit("the replay never reached its end")
        time.sleep(0.005)
    tui.append(time.monotonic() - start)
    tmux("kill-server")
headless = []
for _ in range(5):
    start = time.monotonic()
    subprocess.run([exe, "replay", rec, "--no-tui"], check=True, capture_output=True)
    headless.append(time.monotonic() - start)
ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} ms (min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})"
print(f"A fresh {secs:.1f} s recording of the demo ({events} events), 5 runs each, median:")
print()
print("| replay | wall time |")
print("|---|---:|")
print(f"| `cutover replay FILE --speed 100` in tmux 120×36, launch → banner shows \"■ end\" (target < 1 s) | {ms(tui)} |")
print(f"| `cutover replay FILE --no-tui` (read and play to the end, print JSON) | {ms(headless)} |")
print()
print(f"At 100× a {secs:.0f} s recording needs {secs / 100 * 1000:.0f} ms of play; the rest is process start, terminal setup and the 33 ms frame clock.")
PY
cat "$WORK/replay.md"
section replay "$WORK/replay.md"
kill $UP 2>/dev/null || true
echo "docs/BENCHMARKS.md updated"
