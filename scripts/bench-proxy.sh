#!/usr/bin/env bash
# Proxy benchmark: the upstream directly, cutover at a 50/50 split, and nginx
# with an equivalent split_clients config — all in one run, same machine, same
# load generator (wrk), same upstreams. Prints a table with ratios and writes
# it into docs/BENCHMARKS.md.
#
# Fairness (see DESIGN.md pitfalls): nginx gets an upstream keepalive pool,
# proxy_http_version 1.1, an empty Connection header, and as many workers as
# cutover has runtime threads (the machine's cores).
#
# The machine may be shared (other builds): each round records the load
# average before every measurement and the CPU time each proxy spent per
# request (user + system, from /proc), which is far less sensitive to the
# load than requests/s. With ROUNDS=N the whole set is measured N times and
# the round with the lowest load is the one written; ratios are always taken
# within one round.
#
# Needs: nginx, wrk (Debian: apt-get install -y nginx-light wrk), python3.
# Usage: [ROUNDS=N] scripts/bench-proxy.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
CONNS=${2:-32}
ROUNDS=${ROUNDS:-1}
CORES=$(nproc)
for tool in nginx wrk python3; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y nginx-light wrk python3)"; exit 1; }
done

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/cutover
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  [ -f "$WORK/proxy.pid" ] && kill "$(cat "$WORK/proxy.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
S_PORT=$(free_port); C_PORT=$(free_port); NGX_PORT=$(free_port); CUT_PORT=$(free_port); ADM_PORT=$(free_port)

# Upstreams: one small nginx answering on two ports, like two versions.
cat > "$WORK/up.conf" <<NGX
worker_processes 1;
pid $WORK/up.pid;
error_log $WORK/up-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$S_PORT; location / { add_header X-Version stable; return 200 "stable\n"; } }
  server { listen 127.0.0.1:$C_PORT; location / { add_header X-Version canary; return 200 "canary\n"; } }
}
NGX
nginx -c "$WORK/up.conf" -p "$WORK" -e "$WORK/up-error.log"

# The peer: nginx splitting 50/50 with upstream keepalive.
cat > "$WORK/proxy.conf" <<NGX
worker_processes $CORES;
pid $WORK/proxy.pid;
error_log $WORK/proxy-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  upstream stable { server 127.0.0.1:$S_PORT; keepalive 256; }
  upstream canary { server 127.0.0.1:$C_PORT; keepalive 256; }
  split_clients "\${remote_port}\${msec}\${connection_requests}" \$pool { 50% stable; * canary; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
      proxy_pass http://\$pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGX
nginx -c "$WORK/proxy.conf" -p "$WORK" -e "$WORK/proxy-error.log"

# cutover: static runtime, weight 50 %.
cat > "$WORK/cutover.toml" <<TOML
service = "bench"
runtime = "static"
[listen]
public = "127.0.0.1:$CUT_PORT"
admin = "127.0.0.1:$ADM_PORT"
[stable]
upstreams = ["127.0.0.1:$S_PORT"]
[canary]
upstreams = ["127.0.0.1:$C_PORT"]
TOML
CUTOVER_LOG=warn "$BIN" up --plan "$WORK/cutover.toml" --state-dir "$WORK/state" 2>"$WORK/cutover.err" &
CUT_PID=$!
PIDS+=($CUT_PID)
for _ in $(seq 100); do [ -f "$WORK/state/bench/admin.addr" ] && break; sleep 0.1; done
# The canary serves once its health checks pass.
for _ in $(seq 100); do
  "$BIN" --state-dir "$WORK/state" status --json 2>/dev/null | grep -q '"phase": "canary"' && break
  sleep 0.2
done
"$BIN" --state-dir "$WORK/state" weight 50 --yes >/dev/null

NGX_WORKERS=$(pgrep -P "$(cat "$WORK/proxy.pid")" | tr '\n' ' ')
UP_WORKERS=$(pgrep -P "$(cat "$WORK/up.pid")" | tr '\n' ' ')
cpu_ticks() { # pids... -> user+system clock ticks, summed
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
run_wrk() { # dir name url pids-to-charge extra-args...
  local dir=$1 name=$2 url=$3 pids=$4; shift 4
  awk '{print $1}' /proc/loadavg > "$dir/$name.load"
  local t0; t0=$(cpu_ticks $pids)
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url" > "$dir/$name.wrk" 2>&1 || true
  echo $(( $(cpu_ticks $pids) - t0 )) > "$dir/$name.ticks"
  # a short pause lets TIME_WAIT sockets and CPU settle between runs
  sleep 1
}

# Each target: where wrk sends requests, and whose CPU time is charged.
TARGETS=(direct nginx cutover)
declare -A URL=([direct]="http://127.0.0.1:$S_PORT/" [nginx]="http://127.0.0.1:$NGX_PORT/" [cutover]="http://127.0.0.1:$CUT_PORT/")
declare -A CHARGE=([direct]="$UP_WORKERS" [nginx]="$NGX_WORKERS" [cutover]="$CUT_PID")

echo "warming up..."
wrk -t1 -c8 -d2s "http://127.0.0.1:$CUT_PORT/" >/dev/null 2>&1 || true
wrk -t1 -c8 -d2s "http://127.0.0.1:$NGX_PORT/" >/dev/null 2>&1 || true

for round in $(seq "$ROUNDS"); do
  dir="$WORK/round-$round"; mkdir -p "$dir"
  for mode in ka close; do
    extra=()
    [ "$mode" = close ] && extra=(-H "Connection: close")
    echo "round $round/$ROUNDS, $mode: direct, nginx, cutover in turn (${DUR}s each, $CONNS connections; load $(cut -d' ' -f1-3 /proc/loadavg))"
    # The order turns each round (direct, nginx, cutover; then nginx,
    # cutover, direct; …): whoever runs first or last in a hot machine is
    # not always the same target.
    for i in 0 1 2; do
      t=${TARGETS[$(( (i + round - 1) % 3 ))]}
      run_wrk "$dir" "$t-$mode" "${URL[$t]}" "${CHARGE[$t]}" "${extra[@]}"
    done
  done
done
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$CUT_PID/status)
TICK=$(getconf CLK_TCK)

python3 - "$WORK" "$CORES" "$CONNS" "$DUR" "$RSS_KB" "$ROUNDS" "$TICK" > "$WORK/table.md" <<'PY'
import re, sys, datetime, glob
work, cores, conns, dur, rss, rounds, tick = sys.argv[1:8]
def parse(d, name):
    t = open(f"{d}/{name}.wrk").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    reqs = int(re.search(r"(\d+) requests in", t).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    load = float(open(f"{d}/{name}.load").read())
    cpu_us = int(open(f"{d}/{name}.ticks").read()) * 1e6 / int(tick) / max(reqs, 1)
    return rps, pct(50), pct(99), int(errs.group(1)) if errs else 0, load, cpu_us
names = [f"{t}-{m}" for m in ("ka", "close") for t in ("direct", "nginx", "cutover")]
dirs = sorted(glob.glob(f"{work}/round-*"))
rows = {d: {n: parse(d, n) for n in names} for d in dirs}
# The quietest round: the lowest mean load average over its measurements.
quiet = min(dirs, key=lambda d: sum(r[4] for r in rows[d].values()))
r = rows[quiet]
mean_load = sum(x[4] for x in r.values()) / len(r)
print(f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {cores} cores (shared: 1-minute load average "
      f"{min(x[4] for x in r.values()):.2f}–{max(x[4] for x in r.values()):.2f} during the measurements, mean {mean_load:.2f}; "
      f"quietest of {rounds} round(s)); wrk 1 thread, {conns} connections, {dur} s per run; "
      f"upstreams: one nginx worker answering on two ports; nginx and cutover with {cores} workers each.\n")
print("| mode | target | req/s | p50 ms | p99 ms | non-2xx | CPU µs/req | load | req/s vs nginx | p99 vs nginx | req/s vs direct |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for mode, label in (("ka", "keep-alive"), ("close", "no keep-alive")):
    d = r[f"direct-{mode}"]; n = r[f"nginx-{mode}"]; c = r[f"cutover-{mode}"]
    for name, x in (("direct (upstream)", d), ("nginx 50/50", n), ("cutover 50/50", c)):
        print(f"| {label} | {name} | {x[0]:,.0f} | {x[1]:.2f} | {x[2]:.2f} | {x[3]} | {x[5]:.1f} | {x[4]:.2f} | {x[0]/n[0]:.2f}× | {x[2]/n[2]:.2f}× | {x[0]/d[0]:.2f}× |")
print(f"\nCPU µs/req: user + system time of the process measured (the upstream nginx for direct, the nginx workers, the cutover daemon) per request served. "
      f"cutover daemon peak RSS during the run: {int(rss)/1024:.1f} MiB")
if len(dirs) > 1:
    print("\nEvery round (req/s cutover ÷ nginx, keep-alive / no keep-alive; mean load):\n")
    for d in dirs:
        x = rows[d]
        ml = sum(v[4] for v in x.values()) / len(x)
        print(f"- {d.rsplit('-', 1)[1]}: {x['cutover-ka'][0]/x['nginx-ka'][0]:.2f}× / {x['cutover-close'][0]/x['nginx-close'][0]:.2f}×; "
              f"p99 {x['cutover-ka'][2]/x['nginx-ka'][2]:.2f}× / {x['cutover-close'][2]/x['nginx-close'][2]:.2f}×; load {ml:.2f}")
PY
cat "$WORK/table.md"

# Keep docs/BENCHMARKS.md in step: replace the proxy section between markers.
python3 - "$WORK/table.md" <<'PY'
import sys, pathlib
table = open(sys.argv[1]).read()
p = pathlib.Path("docs/BENCHMARKS.md")
text = p.read_text() if p.exists() else "# Benchmarks\n"
start, end = "<!-- proxy:start -->", "<!-- proxy:end -->"
block = f"{start}\n{table}\n{end}"
if start in text:
    text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
else:
    text += f"\n## Proxy: cutover vs nginx vs direct\n\n`scripts/bench-proxy.sh` (targets: ≥ 1.0× nginx throughput, ≤ 1.2× its p99).\n\n{block}\n"
p.write_text(text)
PY
echo "docs/BENCHMARKS.md updated"
