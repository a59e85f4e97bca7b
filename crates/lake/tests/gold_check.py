#!/usr/bin/env python3
"""Independent check of cartd-lake's gold tables, in plain SQL on DuckDB.

What: for one day D, recompute ``gold/daily_cart_metrics`` and
``gold/daily_top_products`` from the *silver* Parquet files alone, following
the definitions of docs/LAKE.md literally, then read the gold Parquet files that
``cartd-lake gold`` wrote for D and compare them row by row: integers exactly,
floats within 1e-9 relative, nulls equal to nulls, plus the column names,
types and nullability, and the row order the spec asks for.

Why: the Rust gold job computes these numbers with its own code (hash maps,
sorting, windows). Writing the same definitions a second time, in a different
language and style (set-based SQL), catches misreadings of the spec and
off-by-one mistakes (the abandonment window's bounds, tie-breaks on equal
timestamps, "last checkout per cart", ...) that a test written by the same
hand as the code would repeat.

Usage:
    python3 gold_check.py LAKE_ROOT DATE [--abandon-after-seconds N]

    LAKE_ROOT  the lake directory (the one holding silver/ and gold/)
    DATE       the day to check, YYYY-MM-DD (UTC)
    N          the abandonment window in seconds (default 86400 = 24 h);
               must match the --abandon-after the gold job ran with

Exit status: 0 when gold matches ("gold matches"), 1 when it differs (each
difference is printed), 2 when the input cannot be read (bad arguments,
silver that breaks the spec's NOT NULL columns, ...).

Only dependency: ``pip install duckdb``.

Reading of the spec (the choices where docs/LAKE.md leaves room):

* "Events of D" are events whose ``occurred_at`` falls in [D 00:00, D+1 00:00)
  UTC. Silver is partitioned by that same date, so this is also "the rows of
  silver partition date=D"; the script loads the partitions D .. D+k and
  filters on the timestamp, and warns when a row sits in a partition that does
  not match its timestamp (then the two readings would disagree).
* The abandonment window (last_at, last_at + N] can reach past D, so the
  partitions D+1 .. D+k with k = ceil(N / 1 day) are read too (D+1 for 24 h).
  A missing partition there is warned about: gold built before D+1 is complete
  overcounts abandoned carts.
* A cart's currency for the per-currency counts of active/created/checked-out
  carts is the currency of each event (carts do not change currency in
  cartd); an abandoned cart is counted under the currency of its last event.
* "A cleared event that comes after the line event" uses the same order as
  everywhere else: (occurred_at, version, event_id).
* daily_top_products has one candidate row per (currency, product_id) with
  units_added > 0 or units_abandoned > 0; ranks are numbered over those
  candidates, then rows with rank_added <= 100 or rank_abandoned <= 100 kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import sys
from pathlib import Path

import duckdb

DAY_SECONDS = 86_400
MICROS = 1_000_000
TOP_N = 100  # "rank_added <= 100 or rank_abandoned <= 100"

# --------------------------------------------------------------------------
# Silver tables as docs/LAKE.md defines them. Loading silver into tables declared
# with the spec's NOT NULL constraints also checks those constraints. Two
# helper columns are added on load: `part_date` (the date=... directory the
# row came from) and `at_us` (occurred_at as integer microseconds since the
# epoch, which keeps the window arithmetic exact and independent of the
# session time zone).
# --------------------------------------------------------------------------
SILVER_DDL = """
CREATE TABLE cart_events (
    event_id        VARCHAR NOT NULL,
    type            VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    subject         VARCHAR NOT NULL,
    cart_id         VARCHAR NOT NULL,
    cart_key        VARCHAR NOT NULL,
    owner           VARCHAR NOT NULL,
    version         BIGINT  NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    currency        VARCHAR NOT NULL,
    item_count      BIGINT  NOT NULL,
    total_quantity  BIGINT  NOT NULL,
    total_price     BIGINT  NOT NULL,
    product_id      VARCHAR,
    variant_id      VARCHAR,
    quantity_before BIGINT,
    quantity_after  BIGINT,
    unit_price      BIGINT,
    region          VARCHAR,
    discount_code   VARCHAR,
    merge_strategy  VARCHAR,
    order_id        VARCHAR,
    order_number    VARCHAR,
    order_status    VARCHAR,
    order_total     BIGINT,
    traceparent     VARCHAR,
    part_date       DATE    NOT NULL,
    at_us           BIGINT  NOT NULL
);
CREATE TABLE cart_lines (
    event_id        VARCHAR NOT NULL,
    type            VARCHAR NOT NULL,
    cart_id         VARCHAR NOT NULL,
    cart_key        VARCHAR NOT NULL,
    version         BIGINT  NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    item_id         VARCHAR NOT NULL,
    product_id      VARCHAR NOT NULL,
    variant_id      VARCHAR,
    quantity_before BIGINT  NOT NULL,
    quantity_after  BIGINT  NOT NULL,
    quantity_delta  BIGINT  NOT NULL,
    unit_price      BIGINT  NOT NULL,
    currency        VARCHAR NOT NULL,
    part_date       DATE    NOT NULL,
    at_us           BIGINT  NOT NULL
);
"""

# --------------------------------------------------------------------------
# The metric definitions, step by step. Parameters:
#   $day_start_us, $day_end_us  D's bounds in epoch microseconds, [start, end)
#   $abandon_after_us           the abandonment window in microseconds
#   $day                        D as a DATE
# "Last" always means: latest by occurred_at, then version, then event_id.
# --------------------------------------------------------------------------

# Only cart.* events count (not order.*), and only those that happened on D.
DAY_CART_EVENTS = """
CREATE TEMP TABLE day_cart_events AS
SELECT *
FROM cart_events
WHERE type LIKE 'cart.%'
  AND at_us >= $day_start_us AND at_us < $day_end_us
"""

# Each cart's LAST cart.* event on D (a cart is identified by cart_id).
LAST_EVENT = """
CREATE TEMP TABLE last_event AS
SELECT * EXCLUDE (rn)
FROM (
    SELECT *,
           row_number() OVER (PARTITION BY cart_id
                              ORDER BY occurred_at DESC, version DESC, event_id DESC) AS rn
    FROM day_cart_events
)
WHERE rn = 1
"""

# Abandoned carts: active on D (they have a last event on D), no
# cart.checked_out on D, the last event has item_count > 0 and is not
# cart.merged_away, and NO cart.* event of the cart at all in
# (last_at, last_at + abandon_after]. That window is looked up in every loaded
# partition (D .. D+k), not only in D.
ABANDONED = """
CREATE TEMP TABLE abandoned AS
SELECT l.*
FROM last_event AS l
WHERE l.item_count > 0
  AND l.type <> 'cart.merged_away'
  AND NOT EXISTS (
        SELECT 1 FROM day_cart_events AS c
        WHERE c.cart_id = l.cart_id AND c.type = 'cart.checked_out')
  AND NOT EXISTS (
        SELECT 1 FROM cart_events AS n
        WHERE n.cart_id = l.cart_id
          AND n.type LIKE 'cart.%'
          AND n.at_us >  l.at_us
          AND n.at_us <= l.at_us + $abandon_after_us)
"""

# The cart_lines rows of D.
DAY_LINES = """
CREATE TEMP TABLE day_lines AS
SELECT *
FROM cart_lines
WHERE at_us >= $day_start_us AND at_us < $day_end_us
"""

DAILY_CART_METRICS = """
WITH
-- Counts over the cart.* events of D, one row per currency seen in them.
counts AS (
    SELECT currency,
           count(DISTINCT cart_id) FILTER (WHERE type = 'cart.created')     AS carts_created,
           count(DISTINCT cart_id)                                          AS carts_active,
           count(DISTINCT cart_id) FILTER (WHERE type = 'cart.checked_out') AS carts_checked_out
    FROM day_cart_events
    GROUP BY currency
),
-- Abandoned carts, valued at their last event on D.
abandoned_by_currency AS (
    SELECT currency,
           count(*)         AS carts_abandoned,
           avg(total_price) AS avg_cart_value,
           avg(item_count)  AS avg_lines_abandoned
    FROM abandoned
    GROUP BY currency
),
-- Per cart, its last cart.checked_out event on D (a cart may check out,
-- be unlocked and check out again the same day).
last_checkout AS (
    SELECT currency, total_price
    FROM (
        SELECT *,
               row_number() OVER (PARTITION BY cart_id
                                  ORDER BY occurred_at DESC, version DESC, event_id DESC) AS rn
        FROM day_cart_events
        WHERE type = 'cart.checked_out'
    )
    WHERE rn = 1
),
checkout_by_currency AS (
    SELECT currency, avg(total_price) AS avg_checkout_value
    FROM last_checkout
    GROUP BY currency
),
joined AS (
    SELECT c.currency,
           c.carts_created,
           c.carts_active,
           c.carts_checked_out,
           coalesce(a.carts_abandoned, 0) AS carts_abandoned,
           a.avg_cart_value,
           a.avg_lines_abandoned,
           k.avg_checkout_value
    FROM counts AS c
    LEFT JOIN abandoned_by_currency AS a USING (currency)
    LEFT JOIN checkout_by_currency  AS k USING (currency)
)
SELECT CAST($day AS DATE)                    AS date,
       currency,
       CAST(carts_created     AS BIGINT)     AS carts_created,
       CAST(carts_active      AS BIGINT)     AS carts_active,
       CAST(carts_abandoned   AS BIGINT)     AS carts_abandoned,
       CAST(carts_checked_out AS BIGINT)     AS carts_checked_out,
       CASE WHEN carts_active = 0 THEN NULL
            ELSE CAST(carts_checked_out AS DOUBLE) / carts_active END AS conversion_rate,
       CASE WHEN carts_abandoned + carts_checked_out = 0 THEN NULL
            ELSE CAST(carts_abandoned AS DOUBLE) / (carts_abandoned + carts_checked_out)
       END                                   AS abandonment_rate,
       CAST(avg_cart_value      AS DOUBLE)   AS avg_cart_value,
       CAST(avg_lines_abandoned AS DOUBLE)   AS avg_lines_abandoned,
       CAST(avg_checkout_value  AS DOUBLE)   AS avg_checkout_value
FROM joined
ORDER BY currency
"""

DAILY_TOP_PRODUCTS = """
WITH
-- Units added: positive quantity deltas of cart.item_added / cart.item_updated on D.
added AS (
    SELECT currency,
           product_id,
           sum(quantity_delta)     AS units_added,
           count(DISTINCT cart_id) AS carts_added
    FROM day_lines
    WHERE type IN ('cart.item_added', 'cart.item_updated')
      AND quantity_delta > 0
    GROUP BY currency, product_id
),
-- For each item of each abandoned cart, its last line event on D ...
last_line AS (
    SELECT * EXCLUDE (rn)
    FROM (
        SELECT l.*,
               row_number() OVER (PARTITION BY l.cart_id, l.item_id
                                  ORDER BY l.occurred_at DESC, l.version DESC, l.event_id DESC) AS rn
        FROM day_lines AS l
        WHERE l.cart_id IN (SELECT cart_id FROM abandoned)
    )
    WHERE rn = 1
),
-- ... counted only if no cart.cleared event of that cart on D comes after it
-- ("after" in the (occurred_at, version, event_id) order).
still_in_cart AS (
    SELECT *
    FROM last_line AS ll
    WHERE NOT EXISTS (
        SELECT 1 FROM day_cart_events AS c
        WHERE c.cart_id = ll.cart_id
          AND c.type = 'cart.cleared'
          AND (c.occurred_at, c.version, c.event_id) > (ll.occurred_at, ll.version, ll.event_id))
),
abandoned_per_cart AS (
    SELECT currency, product_id, cart_id, sum(quantity_after) AS units
    FROM still_in_cart
    GROUP BY currency, product_id, cart_id
),
abandoned_units AS (
    SELECT currency,
           product_id,
           sum(units)                          AS units_abandoned,
           count(*) FILTER (WHERE units > 0)   AS carts_abandoned
    FROM abandoned_per_cart
    GROUP BY currency, product_id
),
-- Candidate rows: every product added or abandoned in a currency.
candidates AS (
    SELECT currency,
           product_id,
           CAST(coalesce(a.units_added, 0)     AS BIGINT) AS units_added,
           CAST(coalesce(a.carts_added, 0)     AS BIGINT) AS carts_added,
           CAST(coalesce(b.units_abandoned, 0) AS BIGINT) AS units_abandoned,
           CAST(coalesce(b.carts_abandoned, 0) AS BIGINT) AS carts_abandoned
    FROM added AS a
    FULL OUTER JOIN abandoned_units AS b USING (currency, product_id)
),
ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY currency
                              ORDER BY units_added DESC, product_id ASC)     AS rank_added,
           row_number() OVER (PARTITION BY currency
                              ORDER BY units_abandoned DESC, product_id ASC) AS rank_abandoned
    FROM candidates
    WHERE units_added > 0 OR units_abandoned > 0
)
SELECT CAST($day AS DATE)          AS date,
       currency,
       product_id,
       units_added,
       carts_added,
       units_abandoned,
       carts_abandoned,
       CAST(rank_added     AS BIGINT) AS rank_added,
       CAST(rank_abandoned AS BIGINT) AS rank_abandoned
FROM ranked
WHERE rank_added <= $top_n OR rank_abandoned <= $top_n
ORDER BY currency, rank_added
"""

# --------------------------------------------------------------------------
# The gold tables' contract: (column, DuckDB type, nullable), in file order,
# and the columns that identify a row.
# --------------------------------------------------------------------------
GOLD_TABLES = {
    "daily_cart_metrics": {
        "sql": DAILY_CART_METRICS,
        "key": ("currency",),
        "columns": [
            ("date", "DATE", False),
            ("currency", "VARCHAR", False),
            ("carts_created", "BIGINT", False),
            ("carts_active", "BIGINT", False),
            ("carts_abandoned", "BIGINT", False),
            ("carts_checked_out", "BIGINT", False),
            ("conversion_rate", "DOUBLE", True),
            ("abandonment_rate", "DOUBLE", True),
            ("avg_cart_value", "DOUBLE", True),
            ("avg_lines_abandoned", "DOUBLE", True),
            ("avg_checkout_value", "DOUBLE", True),
        ],
    },
    "daily_top_products": {
        "sql": DAILY_TOP_PRODUCTS,
        "key": ("currency", "product_id"),
        # docs/LAKE.md gives types but no nullability here; nothing in it can be
        # null, so nullability is not checked for this table (None).
        "columns": [
            ("date", "DATE", None),
            ("currency", "VARCHAR", None),
            ("product_id", "VARCHAR", None),
            ("units_added", "BIGINT", None),
            ("carts_added", "BIGINT", None),
            ("units_abandoned", "BIGINT", None),
            ("carts_abandoned", "BIGINT", None),
            ("rank_added", "BIGINT", None),
            ("rank_abandoned", "BIGINT", None),
        ],
    },
}

FLOAT_REL_TOL = 1e-9


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def sql_list(paths: list[Path]) -> str:
    """A DuckDB list literal of file paths (quotes doubled)."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def silver_files(root: Path, table: str, days: list[dt.date]) -> list[Path]:
    """The part-*.parquet files of silver/<table>/date=<day>/ for each day.

    Warns about a missing partition or a missing _SUCCESS marker: either means
    silver for that day is not (completely) built yet.
    """
    files: list[Path] = []
    for day in days:
        part_dir = root / "silver" / table / f"date={day.isoformat()}"
        if not part_dir.is_dir():
            warn(f"{part_dir} does not exist (taken as: no events that day)")
            continue
        if not (part_dir / "_SUCCESS").exists():
            warn(f"{part_dir} has no _SUCCESS marker")
        files.extend(sorted(part_dir.glob("part-*.parquet")))
    return files


def load_silver(con: duckdb.DuckDBPyConnection, root: Path, table: str, days: list[dt.date]) -> None:
    """Insert the silver files of `days` into the table declared in SILVER_DDL.

    read_parquet(hive_partitioning) turns the date=... directory into a `date`
    column; it is kept as `part_date`. INSERT ... BY NAME matches columns by
    name, so a column missing from the files, or a null in a NOT NULL column,
    fails the load.
    """
    files = silver_files(root, table, days)
    if not files:
        return
    con.execute(
        f"""
        INSERT INTO {table} BY NAME
        SELECT * EXCLUDE (date),
               date                 AS part_date,
               epoch_us(occurred_at) AS at_us
        FROM read_parquet({sql_list(files)},
                          hive_partitioning = true,
                          hive_types = {{'date': DATE}})
        """
    )


def check_silver(con: duckdb.DuckDBPyConnection) -> None:
    """Warnings about silver that breaks docs/LAKE.md in ways that matter here."""
    for table in ("cart_events", "cart_lines"):
        (dups,) = con.execute(
            f"SELECT count(*) FROM (SELECT event_id FROM {table} GROUP BY event_id HAVING count(*) > 1)"
        ).fetchone()
        if dups:
            warn(f"silver {table}: {dups} event_id(s) appear more than once (silver should be deduplicated)")
        (misplaced,) = con.execute(
            f"""SELECT count(*) FROM {table}
                WHERE at_us <  epoch_us(CAST(part_date AS TIMESTAMPTZ))
                   OR at_us >= epoch_us(CAST(part_date AS TIMESTAMPTZ)) + {DAY_SECONDS * MICROS}"""
        ).fetchone()
        if misplaced:
            warn(f"silver {table}: {misplaced} row(s) whose occurred_at is not in their date= partition")


def gold_schema(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str, bool]]:
    """(name, DuckDB type, nullable) of each column of a Parquet file, in order."""
    types = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({sql_list([path])}, hive_partitioning = false)"
    ).fetchall()
    # parquet_schema lists the root element first, then one row per leaf
    # column; repetition_type is REQUIRED for a not-null column.
    required = {
        name: repetition == "REQUIRED"
        for name, repetition in con.execute(
            "SELECT name, repetition_type FROM parquet_schema(?) WHERE num_children IS NULL OR num_children = 0",
            [str(path)],
        ).fetchall()
    }
    return [(name, ctype, not required.get(name, False)) for name, ctype, *_ in types]


def values_equal(expected, actual) -> bool:
    """Nulls equal nulls; floats within FLOAT_REL_TOL relative; the rest exactly."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, float) or isinstance(actual, float):
        if not isinstance(expected, (int, float)) or not isinstance(actual, (int, float)):
            return False
        return math.isclose(expected, actual, rel_tol=FLOAT_REL_TOL, abs_tol=0.0)
    return type(expected) is type(actual) and expected == actual


def compare_table(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    day: dt.date,
    name: str,
    spec: dict,
    expected_cols: list[str],
    expected_rows: list[tuple],
) -> list[str]:
    """Differences between the SQL rows and gold/<name>/date=<day>/, as text."""
    where = f"gold/{name}/date={day.isoformat()}"
    part_dir = root / "gold" / name / f"date={day.isoformat()}"
    path = part_dir / "part-00000.parquet"
    diffs: list[str] = []
    if not path.exists():
        return [f"{where}: part-00000.parquet is missing"]
    if not (part_dir / "_SUCCESS").exists():
        diffs.append(f"{where}: _SUCCESS marker is missing")

    # Columns: names and order, types, and nullability where docs/LAKE.md states it.
    actual_schema = gold_schema(con, path)
    want = [(c, t) for c, t, _ in spec["columns"]]
    got = [(c, t) for c, t, _ in actual_schema]
    if got != want:
        diffs.append(f"{where}: columns are {got}, docs/LAKE.md says {want}")
        return diffs  # rows cannot be compared column by column
    for (col, _, nullable), (_, _, actual_nullable) in zip(spec["columns"], actual_schema):
        if nullable is not None and nullable != actual_nullable:
            diffs.append(
                f"{where}: column {col} is {'nullable' if actual_nullable else 'not null'}, "
                f"docs/LAKE.md says {'nullable' if nullable else 'not null'}"
            )

    # Rows, in file order (file_row_number is the row's position in the file).
    actual_rows = con.execute(
        f"""SELECT * EXCLUDE (file_row_number)
            FROM read_parquet({sql_list([path])}, hive_partitioning = false, file_row_number = true)
            ORDER BY file_row_number"""
    ).fetchall()

    key_idx = [expected_cols.index(k) for k in spec["key"]]

    def key_of(row: tuple) -> tuple:
        return tuple(row[i] for i in key_idx)

    def show_key(key: tuple) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in zip(spec["key"], key))

    expected_by_key = {key_of(r): r for r in expected_rows}
    actual_by_key: dict[tuple, tuple] = {}
    for row in actual_rows:
        if key_of(row) in actual_by_key:
            diffs.append(f"{where}: row ({show_key(key_of(row))}) appears more than once")
        actual_by_key[key_of(row)] = row

    for key, exp in expected_by_key.items():
        act = actual_by_key.get(key)
        if act is None:
            diffs.append(f"{where}: row ({show_key(key)}) is missing; expected {dict(zip(expected_cols, exp))}")
            continue
        for col, e, a in zip(expected_cols, exp, act):
            if not values_equal(e, a):
                diffs.append(f"{where}: row ({show_key(key)}) {col}: gold has {a!r}, expected {e!r}")
    for key, act in actual_by_key.items():
        if key not in expected_by_key:
            diffs.append(f"{where}: unexpected row ({show_key(key)}): {dict(zip(expected_cols, act))}")

    # Row order: docs/LAKE.md fixes it (expected_rows come out of SQL in that order).
    if set(expected_by_key) == set(actual_by_key) and len(actual_rows) == len(expected_rows):
        if [key_of(r) for r in actual_rows] != [key_of(r) for r in expected_rows]:
            diffs.append(f"{where}: rows are not in the order docs/LAKE.md asks for")
    return diffs


def print_rows(title: str, cols: list[str], rows: list[tuple]) -> None:
    """A plain text table."""
    cells = [[("NULL" if v is None else repr(v) if isinstance(v, float) else str(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    print(f"{title} ({len(rows)} row{'s' if len(rows) != 1 else ''})")
    print("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lake_root", type=Path, help="the lake directory (holds silver/ and gold/)")
    parser.add_argument("date", type=dt.date.fromisoformat, help="the day to check, YYYY-MM-DD (UTC)")
    parser.add_argument(
        "--abandon-after-seconds",
        type=int,
        default=DAY_SECONDS,
        metavar="N",
        help="abandonment window in seconds (default 86400)",
    )
    args = parser.parse_args(argv)
    if args.abandon_after_seconds < 0:
        parser.error("--abandon-after-seconds must be >= 0")
    root: Path = args.lake_root
    day: dt.date = args.date

    # Days whose silver is needed: D for the metrics, then as many following
    # days as the abandonment window can reach into.
    extra_days = math.ceil(args.abandon_after_seconds / DAY_SECONDS)
    days = [day + dt.timedelta(days=i) for i in range(extra_days + 1)]

    day_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    params = {
        "day": day,
        "day_start_us": int(day_start.timestamp()) * MICROS,
        "day_end_us": (int(day_start.timestamp()) + DAY_SECONDS) * MICROS,
        "abandon_after_us": args.abandon_after_seconds * MICROS,
        "top_n": TOP_N,
    }

    con = duckdb.connect()  # in memory
    # The SQL works on epoch microseconds, so the zone only affects printing
    # (and a silver timestamp written without a zone would be read as UTC).
    con.execute("SET TimeZone = 'UTC'")
    con.execute(SILVER_DDL)
    try:
        for table in ("cart_events", "cart_lines"):
            load_silver(con, root, table, days)
    except duckdb.Error as e:
        print(f"error: cannot load silver as docs/LAKE.md describes it: {e}", file=sys.stderr)
        return 2
    check_silver(con)

    def run(sql: str) -> duckdb.DuckDBPyConnection:
        # Pass a statement only the $parameters it names: DuckDB refuses others.
        return con.execute(sql, {k: params[k] for k in set(re.findall(r"\$(\w+)", sql))})

    # The intermediate tables, in order (each reads the previous ones).
    for step in (DAY_CART_EVENTS, LAST_EVENT, ABANDONED, DAY_LINES):
        run(step)

    print(f"SQL recomputation for {day.isoformat()} from {root}/silver "
          f"(abandon after {args.abandon_after_seconds} s; silver days read: "
          f"{', '.join(d.isoformat() for d in days)})\n")
    all_diffs: list[str] = []
    for name, spec in GOLD_TABLES.items():
        cur = run(spec["sql"])
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
        print_rows(name, cols, rows)
        all_diffs += compare_table(con, root, day, name, spec, cols, rows)

    if all_diffs:
        print(f"gold differs ({len(all_diffs)} difference{'s' if len(all_diffs) != 1 else ''}):")
        for d in all_diffs:
            print(f"  - {d}")
        return 1
    print("gold matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
