#!/usr/bin/env bash
# bench/run.sh — HTTP throughput/latency/memory benchmark for cartd.
#
# For every scenario (health, read, add) x connection count x run, it starts a
# FRESH cartd on a fresh temporary SQLite file on a free 127.0.0.1 port, seeds
# what the scenario needs, drives it with wrk from a separate process, and
# records requests/s, p50/p99 latency, non-2xx and socket errors, and the
# server's peak RSS (VmHWM). It then prints a Markdown report to stdout and
# writes it to bench/out/results.md (raw wrk outputs go to bench/out/raw/).
#
# Usage:  bench/run.sh [--no-build]
#
# Environment knobs (defaults in brackets):
#   CARTD_BIN          server binary, relative to the repo root [target/release/cartd]
#   BENCH_DURATION     wrk -d per run [10s]
#   BENCH_CONNECTIONS  space-separated wrk -c values ["32 128"]
#   BENCH_RUNS         runs per (scenario, connections); medians are reported [3]
#   BENCH_THREADS      wrk -t [2]
#   BENCH_SCENARIOS    subset/order of scenarios ["health read add totals"]; also add-large
#                      (carts filling towards 100 lines; run it with BENCH_DURATION=90s).
#                      totals reads /totals of the read cart given a region and two codes
#                      (the demo pricing a new install loads); checkout checks out carts
#                      seeded first (a stock-tracked line, region, quote token), one
#                      checkout per request (e.g. BENCH_SCENARIOS="add checkout");
#                      purchase runs whole purchases (add, region, totals, checkout; one
#                      connection per wrk thread) and reports purchases/s
#   BENCH_CARTS        guest carts the add scenario spreads over [10000]
#   BENCH_CHECKOUT_CARTS  carts seeded per checkout run; more than a run can check out [60000]
#   BENCH_STORE        sqlite, a postgres:// URL (each run gets a fresh schema in that
#                      database, e.g. postgres://postgres@127.0.0.1:5432/test) or a redis://
#                      URL (each run gets a fresh key prefix), or dynamodb://?region=…&endpoint=…
#                      (each run gets a fresh table) [sqlite]
#
# Only loopback traffic; every server started is killed on exit.

set -euo pipefail

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
cd "$REPO_ROOT"

ORIG_ARGS=("$@")
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

CARTD_BIN="${CARTD_BIN:-target/release/cartd}"
BENCH_DURATION="${BENCH_DURATION:-10s}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-32 128}"
BENCH_RUNS="${BENCH_RUNS:-3}"
export BENCH_THREADS="${BENCH_THREADS:-2}"   # checkout.lua splits its carts by thread
BENCH_SCENARIOS="${BENCH_SCENARIOS:-health read add totals}"
export BENCH_CARTS="${BENCH_CARTS:-10000}"
export BENCH_CHECKOUT_CARTS="${BENCH_CHECKOUT_CARTS:-60000}"
BENCH_STORE="${BENCH_STORE:-sqlite}"
export BENCH_WRK_DIR="$BENCH_DIR/wrk"   # where the Lua scripts find report.lua

OUT_DIR="$BENCH_DIR/out"
RAW_DIR="$OUT_DIR/raw"
RESULTS_MD="$OUT_DIR/results.md"

# Targets the project tracks (see docs/PERFORMANCE.md).
TARGET_READ_RATIO=60     # read rps / health rps, percent, at least
TARGET_ADD_RATIO=25      # add rps / health rps, percent, at least
TARGET_TOTALS_RATIO=50   # totals rps / read rps, percent, at least
TARGET_CHECKOUT_RATIO=30 # checkout rps / add rps, percent, at least
TARGET_P99_MS=10         # p99 at 32 connections, ms, below
TARGET_RSS_MIB=100       # peak RSS, MiB, below

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

[[ "$BENCH_RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ "$BENCH_THREADS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_THREADS must be a positive integer"
for c in $BENCH_CONNECTIONS; do
  [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTIONS: '$c' is not a positive integer"
  (( c >= BENCH_THREADS )) || die "BENCH_CONNECTIONS: $c < BENCH_THREADS ($BENCH_THREADS); wrk needs c >= t"
done
[[ "$BENCH_CHECKOUT_CARTS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_CHECKOUT_CARTS must be a positive integer"
for s in $BENCH_SCENARIOS; do
  [[ "$s" != checkout-seed && "$s" != guests && "$s" != report ]] || die "$s.lua is a helper of the scenarios, not one"
  [[ -f "$BENCH_WRK_DIR/$s.lua" ]] || die "unknown scenario '$s' (no $BENCH_WRK_DIR/$s.lua)"
done

# ---------------------------------------------------------------------------
# Cleanup: kill every server we started, remove temp files
# ---------------------------------------------------------------------------
TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cartd-bench.XXXXXX")"
SERVER_PIDS=()     # every cartd we started (killing an already-exited one is harmless)
SERVER_PID=""      # the one currently running

stop_server() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  # cartd drains in-flight requests on SIGTERM (grace set short below); give it 5 s.
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
    stop_server "$pid"
  done
  rm -rf "$TMP_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Prerequisites: wrk, curl, the cartd binary
# ---------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  log "wrk not found: installing it with apt-get"
  SUDO=""
  [[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update >&2
  $SUDO apt-get install -y wrk >&2
fi
command -v curl >/dev/null 2>&1 || die "curl is required"

if (( BUILD )); then
  log "building release: cargo build --release -p cartd"
  cargo build --release -p cartd >&2
fi
[[ -x "$CARTD_BIN" ]] || die "no executable at $CARTD_BIN (build it, or set CARTD_BIN)"

# ---------------------------------------------------------------------------
# Server lifecycle
# ---------------------------------------------------------------------------

# A TCP port nobody listens on right now (a race is possible; start_server retries).
pick_port() {
  local port
  for _ in $(seq 100); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"; return 0
    fi
  done
  return 1   # (called in $(...): the caller reports the failure)
}

# start_server NAME: a fresh cartd on a fresh SQLite file; sets SERVER_PID, BASE_URL.
start_server() {
  local name="$1" attempt port db logf
  for attempt in 1 2 3 4 5; do
    port="$(pick_port)" || die "could not find a free port"
    db="$TMP_DIR/$name.$attempt.db"
    logf="$TMP_DIR/$name.$attempt.log"
    rm -f "$db" "$db-wal" "$db-shm"
    local store_url="sqlite://$db"
    if [[ "$BENCH_STORE" == postgres* ]]; then
      store_url="$BENCH_STORE?schema=bench_${name//[^A-Za-z0-9]/_}_${attempt}_$RANDOM$RANDOM"
    elif [[ "$BENCH_STORE" == redis* ]]; then
      store_url="$BENCH_STORE?prefix=bench-${name//[^A-Za-z0-9]/-}-${attempt}-$RANDOM$RANDOM"
    elif [[ "$BENCH_STORE" == dynamodb* ]]; then
      # BENCH_STORE=dynamodb://?endpoint=…: a fresh table per run, created on start.
      store_url="dynamodb://bench-${name//[^A-Za-z0-9]/-}-${attempt}-$RANDOM$RANDOM?${BENCH_STORE#*\?}&create=true"
    fi
    # Events go to the run's own file (the default for server stores is the working directory).
    CARTD_LOG="${CARTD_LOG:-warn}" CARTD_SHUTDOWN_GRACE=1s \
      CARTD_EVENTS="${CARTD_EVENTS:-file://$TMP_DIR/$name.$attempt.events.ndjson}" \
      "$CARTD_BIN" serve --listen "127.0.0.1:$port" --store "$store_url" \
      >"$logf" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    BASE_URL="http://127.0.0.1:$port"
    STORE_URL="$store_url"
    SERVER_LOG="$logf"
    # Wait up to 30 s for /health (a debug build migrating a new DB is slowish).
    for _ in $(seq 300); do
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
      if curl -fsS -o /dev/null --max-time 1 "$BASE_URL/health" 2>/dev/null; then
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      stop_server "$SERVER_PID"
      log "server did not become healthy within 30 s; log tail:"
      tail -n 20 "$logf" >&2
      die "cartd failed to start"
    fi
    log "server exited during start-up (attempt $attempt, port $port); log tail:"
    tail -n 5 "$logf" >&2
  done
  die "cartd failed to start after 5 attempts"
}

# Peak resident set size of a live process, in KiB (VmHWM from /proc).
peak_rss_kib() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------

# read: one guest cart with 10 distinct lines. Sets BENCH_GUEST_ID.
seed_read() {
  local guest n body code
  guest="$(curl -fsS -X POST "$BASE_URL/v1/guests" | sed -n 's/.*"guest_id" *: *"\([^"]*\)".*/\1/p')"
  [[ "$guest" =~ ^guest_[0-7][0-9A-HJKMNP-TV-Z]{25}$ ]] || die "POST /v1/guests returned no valid guest id: '$guest'"
  for n in $(seq 1 10); do
    body="$(printf '{"product_id":"book-%03d-pb","quantity":1}' "$n")"
    code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' -d "$body" "$BASE_URL/v1/cart/$guest/items")"
    [[ "$code" == 201 ]] || die "seeding the read cart: POST item $n answered $code"
  done
  curl -fsS "$BASE_URL/v1/cart/$guest" | grep -q '"item_count":10' \
    || die "seeding the read cart: the cart does not have 10 lines"
  export BENCH_GUEST_ID="$guest"
}

# totals: the read cart, shipping to US-CA, with both demo codes. Sets BENCH_GUEST_ID.
seed_totals() {
  local code
  seed_read
  code="$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/json' \
    -d '{"region":"US-CA"}' "$BASE_URL/v1/cart/$BENCH_GUEST_ID")"
  [[ "$code" == 200 ]] || die "seeding the totals cart: PATCH region answered $code"
  for c in WELCOME10 BOOKS5; do
    code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -d "{\"code\":\"$c\"}" "$BASE_URL/v1/cart/$BENCH_GUEST_ID/discount-codes")"
    [[ "$code" == 200 ]] || die "seeding the totals cart: POST code $c answered $code"
  done
  curl -fsS "$BASE_URL/v1/cart/$BENCH_GUEST_ID/totals" | grep -q '"tax_lines":\[{' \
    || die "seeding the totals cart: its totals have no tax"
}

# checkout: BENCH_CHECKOUT_CARTS guest carts, each holding one unit of a stock-tracked product
# (40 of them, stocked far beyond what a run sells, so no checkout runs short), with a region
# and a quote token. Sets BENCH_CHECKOUT_SEED (a file of "guest token" lines).
seed_checkout() {
  local seed_dir="$TMP_DIR/checkout-seed" catalog="$TMP_DIR/bench-stock.json" wrk_pid lines
  rm -rf "$seed_dir" && mkdir -p "$seed_dir"
  seq 1 40 | awk 'BEGIN { printf "[" } NR > 1 { printf "," }
    { printf "{\"id\":\"bench-stock-%02d\",\"name\":\"Bench stock %d\",\"unit_price\":1299,\"currency\":\"USD\",\"stock\":100000000}", $1, $1 }
    END { print "]" }' >"$catalog"
  "$CARTD_BIN" catalog import "$catalog" --store "$STORE_URL" >/dev/null \
    || die "seeding checkout: importing the stock-tracked products failed"
  # wrk runs for its whole -d unless interrupted: stop it once every cart is written.
  BENCH_SEED_DIR="$seed_dir" BENCH_SEED_THREADS=8 \
    wrk -t8 -c8 -d600s -s "$BENCH_WRK_DIR/checkout-seed.lua" "$BASE_URL/" \
    >"$TMP_DIR/checkout-seed.log" 2>&1 &
  wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    lines="$(find "$seed_dir" -name 'seed-*.txt' -exec cat {} + | wc -l)"
    if (( lines >= BENCH_CHECKOUT_CARTS )); then kill -INT "$wrk_pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  wait "$wrk_pid" 2>/dev/null || true
  cat "$seed_dir"/seed-*.txt >"$TMP_DIR/checkout-seed.txt"
  lines="$(wc -l <"$TMP_DIR/checkout-seed.txt")"
  (( lines >= BENCH_CHECKOUT_CARTS )) \
    || { cat "$TMP_DIR/checkout-seed.log" >&2; die "seeding checkout: $lines of $BENCH_CHECKOUT_CARTS carts"; }
  export BENCH_CHECKOUT_SEED="$TMP_DIR/checkout-seed.txt"
  # The seeding's writes reach the disk before the measured run, as between runs.
  sync
}

# ---------------------------------------------------------------------------
# One measured run
# ---------------------------------------------------------------------------
RESULTS_TSV="$TMP_DIR/results.tsv"   # one line per run
: >"$RESULTS_TSV"
mkdir -p "$RAW_DIR"
rm -f "$RAW_DIR"/*.txt "$RAW_DIR"/*.log   # raw files of an earlier invocation
# Other work on this (small) machine skews every number: note the load before we start.
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

# run_one SCENARIO CONNS RUN: appends
#   scenario conns run rps p50_us p99_us rss_kib non2xx sockerr alive
run_one() {
  local scenario="$1" conns="$2" run="$3" url raw line rss alive
  # The previous run's files (a SQLite WAL, PostgreSQL's or Redis's writes) are flushed
  # first: otherwise the kernel writes them back during this run, and its fsyncs pay for them.
  sync
  start_server "$scenario-c$conns-r$run"
  case "$scenario" in
    read) seed_read ;;
    totals) seed_totals ;;
    checkout) seed_checkout ;;
    *) ;;
  esac
  case "$scenario" in
    health) url="$BASE_URL/health" ;;
    read)   url="$BASE_URL/v1/cart/$BENCH_GUEST_ID" ;;
    totals) url="$BASE_URL/v1/cart/$BENCH_GUEST_ID/totals" ;;
    *)      url="$BASE_URL/" ;;   # the script builds the path per request
  esac

  raw="$RAW_DIR/$scenario-c$conns-r$run.txt"
  # purchase.lua keeps one purchase's state per thread: one connection per thread there.
  local threads="$BENCH_THREADS"
  [[ "$scenario" == purchase ]] && threads="$conns"
  log "$scenario: -t$threads -c$conns -d$BENCH_DURATION (run $run/$BENCH_RUNS, pid $SERVER_PID)"
  # --latency also prints wrk's own distribution into the raw file, for reference.
  wrk -t"$threads" -c"$conns" -d"$BENCH_DURATION" --latency \
      -s "$BENCH_WRK_DIR/$scenario.lua" "$url" >"$raw" 2>&1 \
    || { cat "$raw" >&2; die "wrk failed"; }

  # Sample the server's peak RSS before stopping it, and check it survived.
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    alive=yes
    rss="$(peak_rss_kib "$SERVER_PID")"
  else
    alive=no
    rss=0
    log "WARNING: the server died during the run; log tail:"
    tail -n 20 "$SERVER_LOG" >&2
  fi
  stop_server "$SERVER_PID"
  # Keep the server log next to the wrk output if it said anything at warn+.
  if grep -qv 'CARTD_JWT_SECRET is not set' "$SERVER_LOG" 2>/dev/null; then
    cp "$SERVER_LOG" "${raw%.txt}.server.log"
  fi

  line="$(grep '^BENCH_RESULT ' "$raw" || true)"
  [[ -n "$line" ]] || { cat "$raw" >&2; die "no BENCH_RESULT line in wrk output"; }
  # Turn "key=value ..." into shell variables r_key.
  local kv key val
  local r_rps r_p50_us r_p99_us r_non2xx r_connect_err r_read_err r_write_err r_timeout_err
  for kv in ${line#BENCH_RESULT }; do
    key="${kv%%=*}"; val="${kv#*=}"
    case "$key" in
      rps|p50_us|p99_us|non2xx|connect_err|read_err|write_err|timeout_err)
        printf -v "r_$key" '%s' "$val" ;;
    esac
  done
  local sockerr=$(( r_connect_err + r_read_err + r_write_err + r_timeout_err ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$scenario" "$conns" "$run" "$r_rps" "$r_p50_us" "$r_p99_us" "$rss" \
    "$r_non2xx" "$sockerr" "$alive" >>"$RESULTS_TSV"
  log "  -> $(printf '%.0f' "$r_rps") req/s, p50 ${r_p50_us} us, p99 ${r_p99_us} us," \
      "peak RSS $(( rss / 1024 )) MiB, non-2xx $r_non2xx, socket errors $sockerr"
}

for scenario in $BENCH_SCENARIOS; do
  for conns in $BENCH_CONNECTIONS; do
    for run in $(seq 1 "$BENCH_RUNS"); do
      run_one "$scenario" "$conns" "$run"
    done
  done
done

# ---------------------------------------------------------------------------
# Aggregation and report
# ---------------------------------------------------------------------------

# median_of SCENARIO CONNS COLUMN: the median of a column over the runs
# (mean of the two middle values for an even count).
median_of() {
  awk -F'\t' -v s="$1" -v c="$2" -v col="$3" '$1 == s && $2 == c { print $col }' "$RESULTS_TSV" \
    | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# agg_of SCENARIO CONNS COLUMN max|sum
agg_of() {
  awk -F'\t' -v s="$1" -v c="$2" -v col="$3" -v op="$4" '
    $1 == s && $2 == c { if (op == "sum") a += $col; else if ($col > a) a = $col }
    END { print a + 0 }' "$RESULTS_TSV"
}

GIT_COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ "$GIT_COMMIT" != unknown ]] && ! git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null; then
  GIT_COMMIT="$GIT_COMMIT (+ uncommitted changes)"
fi
CPU_MODEL="$(lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^[ \t]+/, "", $2); print $2; exit }')"
CPU_MODEL="${CPU_MODEL:-unknown}"
# The exact command, with the knobs that were in effect spelled out.
COMMAND="CARTD_BIN=$CARTD_BIN BENCH_DURATION=$BENCH_DURATION BENCH_CONNECTIONS=\"$BENCH_CONNECTIONS\" BENCH_RUNS=$BENCH_RUNS BENCH_THREADS=$BENCH_THREADS"
[[ "$BENCH_SCENARIOS" == "health read add" ]] || COMMAND+=" BENCH_SCENARIOS=\"$BENCH_SCENARIOS\""
[[ "$BENCH_CARTS" == 10000 ]] || COMMAND+=" BENCH_CARTS=$BENCH_CARTS"
[[ "$BENCH_STORE" == sqlite ]] || COMMAND+=" BENCH_STORE=$BENCH_STORE"
COMMAND+=" bench/run.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}"

fmt_ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }
fmt_int() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
fmt_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

FLAGGED=0
report() {
  echo "# cartd benchmark results"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- Machine: $(nproc) CPUs, $CPU_MODEL (wrk and cartd share the machine); load average at start: $LOAD_AT_START"
  echo "- cartd commit: $GIT_COMMIT"
  echo "- Binary: \`$CARTD_BIN\`"
  # cartd reads CARTD_* from the environment: show any the caller set (secrets hidden).
  local overrides
  overrides="$(env | grep '^CARTD_' | grep -v -e '^CARTD_BIN=' -e '^CARTD_LOG=' | sed 's/^\(CARTD_[A-Z_]*SECRET\)=.*/\1=[redacted]/' | sort | tr '\n' ' ' || true)"
  [[ -z "$overrides" ]] || echo "- Server settings from the environment: \`${overrides% }\`"
  echo "- Load generator: $(wrk --version 2>&1 | head -n 1 | awk '{ print $1, $2 }'), \`-t$BENCH_THREADS -d$BENCH_DURATION\`, $BENCH_RUNS run(s) per row, fresh server and store per run (store: $BENCH_STORE)"
  echo "- Command: \`$COMMAND\`"
  echo
  echo "Scenarios: **health** = \`GET /health\`; **read** = \`GET /v1/cart/{guest}\` on one cart with 10 lines;"
  echo "**add** = \`POST /v1/cart/{guest}/items\` (quantity 1, random pb/eb product, random cart of $BENCH_CARTS)."
  echo "req/s, p50 and p99 are medians over the runs; peak RSS is the largest VmHWM; errors are totals."
  echo
  echo "| scenario | conns | req/s | p50 (ms) | p99 (ms) | peak RSS (MiB) | non-2xx | socket errors | status |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
  local s c rps p50 p99 rss non2xx sockerr dead status
  for s in $BENCH_SCENARIOS; do
    for c in $BENCH_CONNECTIONS; do
      rps="$(median_of "$s" "$c" 4)"
      p50="$(median_of "$s" "$c" 5)"
      p99="$(median_of "$s" "$c" 6)"
      rss="$(agg_of "$s" "$c" 7 max)"
      non2xx="$(agg_of "$s" "$c" 8 sum)"
      sockerr="$(agg_of "$s" "$c" 9 sum)"
      dead="$(awk -F'\t' -v s="$s" -v c="$c" '$1 == s && $2 == c && $10 != "yes"' "$RESULTS_TSV" | wc -l)"
      status="ok"
      if (( non2xx > 0 || sockerr > 0 || dead > 0 )); then
        status="**FLAGGED**:"
        (( non2xx > 0 )) && status+=" non-2xx"
        (( sockerr > 0 )) && status+=" socket-errors"
        (( dead > 0 )) && status+=" server-died"
        FLAGGED=1
      fi
      echo "| $s | $c | $(fmt_int "$rps") | $(fmt_ms "$p50") | $(fmt_ms "$p99") | $(fmt_mib "$rss") | $non2xx | $sockerr | $status |"
    done
  done

  # Targets. Ratios are per connection count; both scenarios must have been run.
  echo
  echo "## Targets"
  echo
  echo "| target | connections | value | goal | met |"
  echo "|---|---:|---:|---|---|"
  local h r a t pct met
  yesno() { if awk "BEGIN { exit !($1) }"; then echo yes; else echo "**no**"; fi; }
  if [[ " $BENCH_SCENARIOS " == *" health "* ]]; then
    for c in $BENCH_CONNECTIONS; do
      h="$(median_of health "$c" 4)"
      if [[ " $BENCH_SCENARIOS " == *" read "* ]]; then
        r="$(median_of read "$c" 4)"
        pct="$(awk -v a="$r" -v b="$h" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')"
        echo "| read req/s ÷ health req/s | $c | $pct % | ≥ $TARGET_READ_RATIO % | $(yesno "$pct >= $TARGET_READ_RATIO") |"
      fi
      if [[ " $BENCH_SCENARIOS " == *" add "* ]]; then
        a="$(median_of add "$c" 4)"
        pct="$(awk -v a="$a" -v b="$h" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')"
        echo "| add req/s ÷ health req/s | $c | $pct % | ≥ $TARGET_ADD_RATIO % | $(yesno "$pct >= $TARGET_ADD_RATIO") |"
      fi
    done
  fi
  if [[ " $BENCH_SCENARIOS " == *" read "* && " $BENCH_SCENARIOS " == *" totals "* ]]; then
    for c in $BENCH_CONNECTIONS; do
      r="$(median_of read "$c" 4)"
      t="$(median_of totals "$c" 4)"
      pct="$(awk -v a="$t" -v b="$r" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')"
      echo "| totals req/s ÷ read req/s | $c | $pct % | ≥ $TARGET_TOTALS_RATIO % | $(yesno "$pct >= $TARGET_TOTALS_RATIO") |"
    done
  fi
  if [[ " $BENCH_SCENARIOS " == *" add "* && " $BENCH_SCENARIOS " == *" checkout "* ]]; then
    for c in $BENCH_CONNECTIONS; do
      a="$(median_of add "$c" 4)"
      t="$(median_of checkout "$c" 4)"
      pct="$(awk -v a="$t" -v b="$a" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')"
      echo "| checkout req/s ÷ add req/s | $c | $pct % | ≥ $TARGET_CHECKOUT_RATIO % | $(yesno "$pct >= $TARGET_CHECKOUT_RATIO") |"
    done
  fi
  if [[ " $BENCH_CONNECTIONS " == *" 32 "* ]]; then
    for s in $BENCH_SCENARIOS; do
      p99="$(fmt_ms "$(median_of "$s" 32 6)")"
      echo "| $s p99 latency | 32 | $p99 ms | < $TARGET_P99_MS ms | $(yesno "$p99 < $TARGET_P99_MS") |"
    done
  else
    echo "| p99 latency | 32 | n/a (32 not in BENCH_CONNECTIONS) | < $TARGET_P99_MS ms | n/a |"
  fi
  rss="$(fmt_mib "$(awk -F'\t' '$7 > m { m = $7 } END { print m + 0 }' "$RESULTS_TSV")")"
  echo "| peak RSS, all runs | all | $rss MiB | < $TARGET_RSS_MIB MiB | $(yesno "$rss < $TARGET_RSS_MIB") |"

  # Every individual run, for reference.
  echo
  echo "<details><summary>Individual runs</summary>"
  echo
  echo "| scenario | conns | run | req/s | p50 (ms) | p99 (ms) | peak RSS (MiB) | non-2xx | socket errors | server survived |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  local run p50_us p99_us rss_kib alive
  while IFS=$'\t' read -r s c run rps p50_us p99_us rss_kib non2xx sockerr alive; do
    echo "| $s | $c | $run | $(fmt_int "$rps") | $(fmt_ms "$p50_us") | $(fmt_ms "$p99_us") | $(fmt_mib "$rss_kib") | $non2xx | $sockerr | $alive |"
  done <"$RESULTS_TSV"
  echo
  echo "</details>"
  if (( FLAGGED )); then
    echo
    echo "**Warning:** some runs had non-2xx responses, socket errors or a dead server;"
    echo "their numbers are not valid measurements. Raw wrk output is in \`bench/out/raw/\`."
  fi
}

# Build the report in a file first (report() sets FLAGGED, so no subshell).
report >"$TMP_DIR/results.md"
cp "$TMP_DIR/results.md" "$RESULTS_MD"
cat "$RESULTS_MD"
log "report written to ${RESULTS_MD#"$REPO_ROOT"/}"
if (( FLAGGED )); then
  log "WARNING: some runs had non-2xx responses, socket errors or a dead server (see the table)"
  exit 3
fi
