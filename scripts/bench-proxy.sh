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
# Needs: nginx, wrk (Debian: apt-get install -y nginx-light wrk), python3.
# Usage: scripts/bench-proxy.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
CONNS=${2:-32}
CORES=$(nproc)
for tool in nginx wrk python3; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y nginx-light wrk python3)"; exit 1; }
done

cargo build --release --quiet
BIN=$PWD/target/release/cutover
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
"$BIN" --state-dir "$WORK/state" weight 50 >/dev/null

run_wrk() { # name url extra-args...
  local name=$1 url=$2; shift 2
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url" > "$WORK/$name.wrk" 2>&1 || true
  # a short pause lets TIME_WAIT sockets and CPU settle between runs
  sleep 1
}

echo "warming up..."
wrk -t1 -c8 -d2s "http://127.0.0.1:$CUT_PORT/" >/dev/null 2>&1 || true
wrk -t1 -c8 -d2s "http://127.0.0.1:$NGX_PORT/" >/dev/null 2>&1 || true

for mode in ka close; do
  extra=()
  [ "$mode" = close ] && extra=(-H "Connection: close")
  echo "running $mode: direct, nginx, cutover (${DUR}s each, $CONNS connections)"
  run_wrk "direct-$mode" "http://127.0.0.1:$S_PORT/" "${extra[@]}"
  run_wrk "nginx-$mode" "http://127.0.0.1:$NGX_PORT/" "${extra[@]}"
  run_wrk "cutover-$mode" "http://127.0.0.1:$CUT_PORT/" "${extra[@]}"
done
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$CUT_PID/status)

python3 - "$WORK" "$CORES" "$CONNS" "$DUR" "$RSS_KB" > "$WORK/table.md" <<'PY'
import re, sys, datetime
work, cores, conns, dur, rss = sys.argv[1:6]
def parse(name):
    t = open(f"{work}/{name}.wrk").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    sock = re.search(r"Socket errors: (.*)", t)
    return rps, pct(50), pct(99), int(errs.group(1)) if errs else 0, sock.group(1) if sock else ""
print(f"Run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC on {cores} cores; wrk 1 thread, {conns} connections, {dur} s per run; "
      f"upstreams: one nginx worker answering on two ports.\n")
print("| mode | target | req/s | p50 ms | p99 ms | non-2xx | req/s vs nginx | p99 vs nginx | req/s vs direct |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for mode, label in (("ka", "keep-alive"), ("close", "no keep-alive")):
    d = parse(f"direct-{mode}"); n = parse(f"nginx-{mode}"); c = parse(f"cutover-{mode}")
    for name, r in (("direct (upstream)", d), ("nginx 50/50", n), ("cutover 50/50", c)):
        print(f"| {label} | {name} | {r[0]:,.0f} | {r[1]:.2f} | {r[2]:.2f} | {r[3]} | {r[0]/n[0]:.2f}× | {r[2]/n[2]:.2f}× | {r[0]/d[0]:.2f}× |")
print(f"\ncutover daemon peak RSS during the run: {int(rss)/1024:.1f} MiB")
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
