#!/usr/bin/env bash
# The lake benchmark: silver (and gold) over BENCH_LAKE_EVENTS (1,000,000) events of one day, on
# one core, with the release cartd-lake. Prints seconds and peak memory of each step.
#
#   bench/lake.sh [--no-build]
#
# The events come from bench/lake/events.py (carts changed the way the service changes them,
# spread over the day's 24 hours, about 1 % delivered twice) and go into bronze through
# `cartd-lake ingest` from the file source, as the file sink's events would. Silver and gold then
# run under `taskset -c 0` (one core), timed by /usr/bin/time (elapsed seconds, maximum RSS).
set -euo pipefail
cd "$(dirname "$0")/.."

events="${BENCH_LAKE_EVENTS:-1000000}"
day=2026-12-01
next=2026-12-02
bin="${CARTD_LAKE_BIN:-target/release/cartd-lake}"
[ "${1-}" = --no-build ] || cargo build --release -q -p cartd-lake

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 bench/lake/events.py "$work/events.ndjson" "$events" "$day"
"$bin" --lake "$work/lake" ingest --from "file://$work/events.ndjson" --once --batch 20000

measure() {
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/time" taskset -c 0 "$bin" --lake "$work/lake" "$@" >"$work/out"
  read -r seconds rss_kb <"$work/time"
  printf '%-28s %8s s %8s MiB   %s\n' "$label" "$seconds" "$((rss_kb / 1024))" "$(cat "$work/out")"
}

echo "== $events events, one core"
measure "silver (whole day)" silver --date "$day"
measure "silver (again, same bytes)" silver --date "$day"
measure "silver (next day, empty)" silver --date "$next"
measure "gold" gold --date "$day"
du -sh "$work/lake/bronze" "$work/lake/silver" | sed 's/^/size /'
