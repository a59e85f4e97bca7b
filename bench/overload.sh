#!/usr/bin/env bash
# bench/overload.sh — adds at capacity and at twice capacity, with load shedding on.
#
# The server admits CARTD_MAX_IN_FLIGHT + CARTD_MAX_QUEUED requests (BENCH_IN_FLIGHT and
# BENCH_QUEUED, 32 and 32 here: about where adds saturate this machine). wrk's closed loop
# offers exactly as many concurrent requests as it has connections: as many as admitted is
# capacity, twice that is 2× overload, where the server must answer the excess with
# 503 OVERLOADED at once instead of letting it queue. For comparison the same 2× runs against
# the default limits (512 + 1,024: nothing is shed, everything queues). Each line comes from bench/add-cpu.sh (fresh server, SQLite,
# 10 s): requests/s (503s included), p50, p99, non-2xx answers; plus the adds that succeeded
# per second.
#
#   bench/overload.sh        (after cargo build --release -p cartd; needs wrk)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
in_flight="${BENCH_IN_FLIGHT:-32}" queued="${BENCH_QUEUED:-32}"
capacity=$((in_flight + queued))
duration_s=10

run() { # LABEL CONNECTIONS [CARTD_* settings…]
  local label="$1" connections="$2"; shift 2
  local db; db="$(mktemp -d)/bench.db"
  local line
  line="$(env "$@" BENCH_CONNECTIONS="$connections" BENCH_DURATION="${duration_s}s" \
    "$here/add-cpu.sh" "$label" "sqlite://$db")"
  rm -rf "$(dirname "$db")"
  awk -v d="$duration_s" '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%s  succeeded/s=%.0f\n", $0, v["adds/s"] - v["non2xx"] / d }' <<<"$line"
}

limits=(CARTD_MAX_IN_FLIGHT="$in_flight" CARTD_MAX_QUEUED="$queued")
run "capacity($capacity)" "$capacity" "${limits[@]}"
run "overload($((2 * capacity)))" "$((2 * capacity))" "${limits[@]}"
run "no-shedding($((2 * capacity)))" "$((2 * capacity))"
