#!/usr/bin/env bash
# bench/stores.sh — the same HTTP load on every backend in one sitting, beside each store's own
# ceiling measured in the same sitting (issue 4).
#
# For SQLite, PostgreSQL and Redis (and DynamoDB on moto with BENCH_DYNAMODB=1) it runs
# bench/run.sh (health, read, add at BENCH_CONNECTIONS, BENCH_RUNS runs each), then:
#   - redis-benchmark -t get,set at the same client count;
#   - pgbench -f with the single-row write a PostgreSQL commit does for each cart (UPDATE of the
#     cart's JSONB document with its version condition and INSERT of one outbox event, in one
#     statement, the document and event bound as parameters), one cart per transaction, at
#     the same client count, on a fresh schema seeded with BENCH_CARTS carts.
# It prints one Markdown table and writes it to bench/out/stores.md.
#
# Usage:  bench/stores.sh [--no-build]
#
# Knobs: BENCH_CONNECTIONS [32], BENCH_RUNS [3], BENCH_DURATION [10s], BENCH_CARTS [10000],
#        BENCH_POSTGRES [postgres://postgres@127.0.0.1:5432/test], BENCH_REDIS
#        [redis://127.0.0.1:6379], BENCH_DYNAMODB [0], BENCH_DYNAMODB_ENDPOINT
#        [http://127.0.0.1:5005]. Any CARTD_* setting is passed to the servers.

set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$BENCH_DIR/.."

export BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-32}"
export BENCH_RUNS="${BENCH_RUNS:-3}"
export BENCH_DURATION="${BENCH_DURATION:-10s}"
export BENCH_CARTS="${BENCH_CARTS:-10000}"
BENCH_POSTGRES="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
BENCH_REDIS="${BENCH_REDIS:-redis://127.0.0.1:6379}"
BENCH_DYNAMODB="${BENCH_DYNAMODB:-0}"
BENCH_DYNAMODB_ENDPOINT="${BENCH_DYNAMODB_ENDPOINT:-http://127.0.0.1:5005}"
OUT="$BENCH_DIR/out"
mkdir -p "$OUT"

build_flag=()
[[ "${1:-}" == "--no-build" ]] && build_flag=(--no-build)

declare -A ROWS
# Runs bench/run.sh on one store and keeps its summary rows (scenario | conns | req/s | p50 | p99).
http_load() {
  local label="$1" store="$2"
  echo "== $label: cartd" >&2
  BENCH_STORE="$store" BENCH_SCENARIOS="health read add" bench/run.sh "${build_flag[@]}" \
    >"$OUT/stores-$label.md" 2>"$OUT/stores-$label.log"
  build_flag=(--no-build)
  for scenario in health read add; do
    # The medians table: | scenario | conns | req/s | p50 | p99 | RSS | non-2xx | errors | ok |
    ROWS["$label/$scenario"]=$(grep -E "^\| $scenario \| $BENCH_CONNECTIONS \| [0-9]+ \|" \
      "$OUT/stores-$label.md" | head -n 1 |
      awk -F'|' '{ gsub(/ /, ""); printf "%s (%s / %s ms)", $4, $5, $6 }')
  done
}

redis_ceiling() {
  local hostport="${BENCH_REDIS#redis://}"
  hostport="${hostport%%/*}"
  redis-benchmark -h "${hostport%:*}" -p "${hostport##*:}" -c "$BENCH_CONNECTIONS" \
    -n 400000 -t get,set -q 2>/dev/null | tr '\r' '\n' | grep -E "^(SET|GET): [0-9]" |
    awk '{ printf "%s %d/s; ", $1, $2 }'
}

pgbench_ceiling() {
  local schema="bench_pgbench_$RANDOM$RANDOM"
  local url="$BENCH_POSTGRES"
  local doc payload
  # A cart document and an event of the sizes cartd writes (10 lines, ~1.5 KB; ~0.5 KB).
  doc=$(python3 -c 'import json; print(json.dumps({"lines":[{"item_id":"%032x"%i,"product_id":"book-%03d-pb"%i,"name":"A book title of some length","quantity":1,"unit_price":1299,"added_at":"2026-11-30T12:00:00Z"} for i in range(10)]}))')
  payload=$(python3 -c 'import json; print(json.dumps({"type":"cart.item_added","cart_key":"guest_01JD4Z7Q8R9S0T1V2W3X4Y5Z6A","version":3,"line":{"item_id":"8e1f5c2a0d3b4f6ea7b8c9d0e1f2a3b4","product_id":"book-001-pb","quantity_before":1,"quantity_after":2,"unit_price":1299},"totals":{"item_count":2,"total_quantity":4,"total_price":4796},"currency":"USD"}))')
  psql -q "$url" -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE SCHEMA $schema;
SET search_path = $schema;
CREATE TABLE carts (cart_key TEXT PRIMARY KEY, cart_id UUID NOT NULL, version BIGINT NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL, doc JSONB NOT NULL);
CREATE INDEX carts_by_expiry ON carts (expires_at);
CREATE TABLE outbox (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL, cart_key TEXT NOT NULL,
                     version BIGINT NOT NULL, event_type TEXT NOT NULL, payload JSONB NOT NULL,
                     created_at TIMESTAMPTZ NOT NULL, published_at TIMESTAMPTZ);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
INSERT INTO carts SELECT 'k' || n, gen_random_uuid(), 1, now() + interval '7 days', '$doc'::jsonb
  FROM generate_series(1, $BENCH_CARTS) n;
SQL
  cat >"$OUT/pgbench-commit.sql" <<SQL
\set n random(1, $BENCH_CARTS)
-- cartd's condition is version = <the version it read>; the script cannot know it, so it
-- makes the same comparison against the row itself. It writes one cart per transaction: the
-- cart's update, and its event inserted only if the update matched, in one statement (cartd's
-- GROUP_COMMIT in crates/store/src/postgres/group.rs does this for many carts at once). The
-- document and the event are parameters (-D), parsed into jsonb on every execution as cartd's
-- are; as literals, a prepared statement would parse them once and flatter the ceiling.
WITH written AS (
  UPDATE $schema.carts SET version = version + 1, expires_at = now() + interval '7 days',
         doc = :doc::jsonb WHERE cart_key = 'k' || :n AND version = version RETURNING 1),
events AS (
  INSERT INTO $schema.outbox (event_id, cart_key, version, event_type, payload, created_at)
  SELECT gen_random_uuid(), 'k' || :n, 2, 'cart.item_added', :payload::jsonb, now()
  WHERE EXISTS (SELECT 1 FROM written))
SELECT count(*) FROM written;
SQL
  # Prepared statements, as sqlx uses them; the runs before it flushed first, as in run.sh.
  sync
  pgbench -n -M prepared -c "$BENCH_CONNECTIONS" -j 2 -T "${BENCH_DURATION%s}" -f "$OUT/pgbench-commit.sql" \
    -D "doc=$doc" -D "payload=$payload" "$url" 2>/dev/null | awk '/latency average/ { avg = $4 } /^tps/ { tps = $3 }
      END { printf "%d tx/s (avg %s ms)", tps, avg }'
  psql -q "$url" -c "DROP SCHEMA $schema CASCADE" >/dev/null
}

http_load sqlite sqlite
http_load postgres "$BENCH_POSTGRES"
http_load redis "$BENCH_REDIS"
[[ "$BENCH_DYNAMODB" == 1 ]] && http_load dynamodb "dynamodb://?endpoint=$BENCH_DYNAMODB_ENDPOINT&region=us-east-1"
echo "== store ceilings" >&2
REDIS_CEILING=$(redis_ceiling)
PG_CEILING=$(pgbench_ceiling)

{
  echo "# cartd on every store, one sitting ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "- Machine: $(nproc) cores; cartd, wrk and the store on the same cores; $BENCH_CONNECTIONS connections; median of $BENCH_RUNS runs of $BENCH_DURATION"
  echo "- Command: \`bench/stores.sh\`"
  echo
  echo "| store | /health req/s (p50 / p99) | cart reads/s (p50 / p99) | adds/s (p50 / p99) | the store's own ceiling, same clients |"
  echo "|---|---|---|---|---|"
  for label in sqlite postgres redis dynamodb; do
    [[ -n "${ROWS[$label/add]:-}" ]] || continue
    ceiling="—"
    [[ "$label" == redis ]] && ceiling="redis-benchmark: $REDIS_CEILING"
    [[ "$label" == postgres ]] && ceiling="pgbench commit script: $PG_CEILING"
    echo "| $label | ${ROWS[$label/health]} | ${ROWS[$label/read]} | ${ROWS[$label/add]} | $ceiling |"
  done
} | tee "$OUT/stores.md"
