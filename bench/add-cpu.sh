#!/usr/bin/env bash
# bench/add-cpu.sh — one add run against a store, with CPU time per add: for comparing two
# builds or two settings in the same sitting, where this machine's speed drifts too much
# between sittings (2x) and runs (±20 %) for anything but interleaved pairs.
#
# Starts a fresh `cartd serve` on STORE_URL (relay on, file sink), drives it with
# `wrk -t2 -c32 -d10s --latency -s bench/wrk/add.lua` over BENCH_CARTS carts, and prints one
# line: adds/s, p50, p99, the CPU time (utime + stime from /proc) per add of cartd and of
# every process named SERVER (e.g. postgres, redis-server) over the run, and cartd's peak RSS
# (VmHWM).
#
# Usage:  bench/add-cpu.sh LABEL STORE_URL [SERVER]
#   e.g.  bench/add-cpu.sh grouped 'postgres://postgres@127.0.0.1/test?schema=ab_1' postgres
#         bench/add-cpu.sh single  'postgres://postgres@127.0.0.1/test?schema=ab_2&group_commit=1' postgres
# Use a fresh schema, key prefix or file per run. Knobs: CARTD_BIN [target/release/cartd],
# BENCH_PORT [18090], BENCH_CARTS [10000], BENCH_CONNECTIONS [32], BENCH_DURATION [10s].
# Any CARTD_* setting (CARTD_NO_RELAY=true, …) is passed to the server.
set -euo pipefail

label="${1:?usage: bench/add-cpu.sh LABEL STORE_URL [SERVER]}"
store="${2:?usage: bench/add-cpu.sh LABEL STORE_URL [SERVER]}"
server="${3:-}"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${CARTD_BIN:-$here/../target/release/cartd}"
port="${BENCH_PORT:-18090}"
work="$(mktemp -d)"
export BENCH_WRK_DIR="$here/wrk" BENCH_CARTS="${BENCH_CARTS:-10000}"

# Clock ticks of CPU (user + system) used so far by the given pids.
ticks() { for pid in "$@"; do awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null; done |
  awk '{ s += $1 } END { print s + 0 }'; }
server_pids() { [[ -n "$server" ]] && pgrep -x "$server" || true; }

CARTD_LOG="${CARTD_LOG:-warn}" CARTD_EVENTS="${CARTD_EVENTS:-file://$work/events.ndjson}" \
  "$bin" serve --listen "127.0.0.1:$port" --store "$store" >"$work/cartd.log" 2>&1 &
cartd=$!
trap 'kill "$cartd" 2>/dev/null; wait "$cartd" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { cat "$work/cartd.log" >&2; exit 1; }

# The server's processes are listed again at the end: PostgreSQL starts a backend for each
# connection the pool opens during the run, and all of its CPU falls within the run.
mapfile -t servers < <(server_pids)
c0=$(ticks "$cartd"); s0=$(ticks "${servers[@]}")
wrk -t2 -c"${BENCH_CONNECTIONS:-32}" -d"${BENCH_DURATION:-10s}" --latency \
  -s "$here/wrk/add.lua" "http://127.0.0.1:$port" >"$work/wrk.txt" 2>&1
mapfile -t servers < <(server_pids)
c1=$(ticks "$cartd"); s1=$(ticks "${servers[@]}")
rss_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$cartd/status")

hz=$(getconf CLK_TCK)
awk -v label="$label" -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v hz="$hz" -v server="$server" \
  -v rss="$rss_kib" '
  /requests in/ { n = $1 }
  /Requests\/sec/ { rps = $2 }
  /^ +50%/ { p50 = $2 }
  /^ +99%/ { p99 = $2 }
  /Non-2xx/ { bad = $NF }
  END {
    us = 1e6 / hz / (n > 0 ? n : 1)
    printf "%s adds/s=%s p50=%s p99=%s cartd_cpu_per_add=%.0fus", label, rps, p50, p99, c * us
    if (server != "") printf " %s_cpu_per_add=%.0fus", server, s * us
    printf " cartd_peak_rss=%.1fMiB non2xx=%d\n", rss / 1024, bad
  }' "$work/wrk.txt"
