"""Airflow DAG: cartd's event lake, hour by hour.

Each hourly run covers one data interval, the hour that just ended
([data_interval_start, data_interval_end), UTC), and runs three tasks in order:

1. ``ingest``: ``cartd-lake ingest --lake URL --from URL --once`` appends the
   events waiting at the source to bronze, then exits.
2. ``silver``: ``cartd-lake silver --lake URL --date YYYY-MM-DD --hour HH``
   builds the silver partition of the hour that just ended.
3. ``gold``: ``cartd-lake gold --lake URL --date YYYY-MM-DD --abandon-after 24h``
   builds gold for the day BEFORE the interval's day. A cart counts as
   abandoned only if it has no event in the 24 h after its last event of day D,
   so gold for D needs all of D+1 in silver: the task runs in the run of D+1's
   last hour (23:00-24:00) and is skipped (exit 99, Airflow's "skipped") in the
   other 23 runs of the day.

Settings (an Airflow Variable wins over the worker's environment variable of
the same name):

* ``CARTD_LAKE_URL``  the lake (``--lake``)
* ``CARTD_LAKE_FROM`` the event source (``--from``), for example
  ``file:///var/lib/cartd/cartd.events.ndjson`` or a NATS URL
* ``CARTD_LAKE_START_DATE`` (environment only, read when the DAG is parsed):
  first day to build, YYYY-MM-DD, default 2026-12-01. With ``catchup`` on,
  Airflow creates a run for every hour since then (a backfill); runs go one at
  a time, oldest first.

``cartd-lake`` must be on the workers' PATH.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG, CronDataIntervalTimetable
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.timetables.interval import CronDataIntervalTimetable

try:  # Airflow 3, or 2.x with apache-airflow-providers-standard
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2.x
    from airflow.operators.bash import BashOperator

DAG_ID = "cartd_lake"

# Gold for day D runs once D+1 is complete in silver, so the abandonment
# window must not be longer than a day.
ABANDON_AFTER = "24h"

START_DATE = datetime.strptime(
    os.environ.get("CARTD_LAKE_START_DATE", "2026-12-01"), "%Y-%m-%d"
).replace(tzinfo=timezone.utc)

# The hour that just ended: Jinja expressions on the run's data interval.
# Not {{ ds }}: in scheduled and catchup runs the logical date is the
# interval's start, so ds is the same day, but in a manual run (airflow dags
# test, a trigger) Airflow 3 sets the logical date to the trigger time and the
# interval to the hour before it, so at 00:00 ds is already the next day while
# the hour to build, 23, belongs to the day before.
HOUR_DATE = "{{ data_interval_start.strftime('%Y-%m-%d') }}"
HOUR = "{{ data_interval_start.strftime('%H') }}"
# The day before the interval's day: the day gold is built for.
DAY_BEFORE = "{{ (data_interval_start - macros.timedelta(days=1)).strftime('%Y-%m-%d') }}"

# Every task gets the Airflow Variables in its environment (empty when the
# Variable does not exist) next to the worker's own environment (append_env).
SETTINGS_ENV = {
    "LAKE_URL_VARIABLE": "{{ var.value.get('CARTD_LAKE_URL', '') }}",
    "LAKE_FROM_VARIABLE": "{{ var.value.get('CARTD_LAKE_FROM', '') }}",
}

# Shell preamble: the Variable if set, else the environment variable, else fail.
LAKE = """\
set -euo pipefail
LAKE="${LAKE_URL_VARIABLE:-${CARTD_LAKE_URL:-}}"
: "${LAKE:?set the Airflow Variable or the environment variable CARTD_LAKE_URL}"
"""
FROM = """\
FROM="${LAKE_FROM_VARIABLE:-${CARTD_LAKE_FROM:-}}"
: "${FROM:?set the Airflow Variable or the environment variable CARTD_LAKE_FROM}"
"""

INGEST_COMMAND = LAKE + FROM + 'cartd-lake ingest --lake "$LAKE" --from "$FROM" --once\n'

SILVER_COMMAND = LAKE + f'cartd-lake silver --lake "$LAKE" --date {HOUR_DATE} --hour {HOUR}\n'

GOLD_COMMAND = (
    LAKE
    + f"""\
if [ "{HOUR}" != "23" ]; then
  echo "gold for {DAY_BEFORE} is built after the last hour of {HOUR_DATE}; skipping"
  exit 99
fi
cartd-lake gold --lake "$LAKE" --date {DAY_BEFORE} --abandon-after {ABANDON_AFTER}
"""
)

default_args = {
    "owner": "cartd",
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(minutes=45),
}

with DAG(
    dag_id=DAG_ID,
    description="cartd events -> bronze -> silver (hourly) -> gold (daily)",
    doc_md=__doc__,
    # Hourly data intervals [HH:00, HH+1:00) in UTC; a run starts when its
    # interval ends. (Airflow 3's plain "@hourly" would make a trigger
    # timetable whose runs have no interval.)
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=True,
    # One run at a time, oldest first: ingest --once drains a shared source,
    # and an hour's silver needs the ingest that ran after that hour ended.
    max_active_runs=1,
    default_args=default_args,
    tags=["cartd", "lake"],
) as dag:
    ingest = BashOperator(
        task_id="ingest",
        bash_command=INGEST_COMMAND,
        env=SETTINGS_ENV,
        append_env=True,
    )
    silver = BashOperator(
        task_id="silver",
        bash_command=SILVER_COMMAND,
        env=SETTINGS_ENV,
        append_env=True,
        # An hour's silver waits for the previous hour's: when gold runs, every
        # hour of the two days it reads has been built.
        depends_on_past=True,
    )
    gold = BashOperator(
        task_id="gold",
        bash_command=GOLD_COMMAND,
        env=SETTINGS_ENV,
        append_env=True,
        # exit 99 = skipped (the 23 hours that do not close a day)
        skip_on_exit_code=99,
    )

    ingest >> silver >> gold
