#!/usr/bin/env python3
"""Check cartd_lake_dag.py with Airflow itself, without a scheduler or a database.

What it checks:

1. Airflow's DagBag imports the file with no import errors and finds the
   ``cartd_lake`` DAG: hourly data intervals in UTC, catchup on, one active run
   at a time, tasks ``ingest >> silver >> gold``, all BashOperators with retries.
2. The DAG's own timetable yields the expected intervals: the first catchup run
   covers [start_date, start_date + 1 h), and runs follow hour by hour.
3. For a few of those intervals, each task's command and environment are
   rendered with Airflow's Jinja environment and run with bash, with a stub
   ``cartd-lake`` first on PATH that records its arguments. The recorded
   argument lists must be exactly the cartd-lake commands:
       cartd-lake ingest --lake URL --from URL --once
       cartd-lake silver --lake URL --date YYYY-MM-DD --hour HH
       cartd-lake gold   --lake URL --date YYYY-MM-DD --abandon-after 24h
   (gold for the day before, only in the run of a day's last hour; in the
   other runs the task exits 99, which Airflow counts as skipped), the Airflow
   Variables must win over the environment variables, and a missing setting
   must fail the task without calling cartd-lake.

Why: a DAG file that parses is not a DAG that runs the right commands for the
right hour; the data-interval arithmetic (which hour, which day, skipped
hours) is what goes wrong, so it is run here against Airflow's own timetable.

Usage (in a virtualenv with apache-airflow installed):
    python3 deploy/airflow/check_dag.py
Prints each check; exits 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

DAG_FILE = Path(__file__).resolve().with_name("cartd_lake_dag.py")
DAG_ID = "cartd_lake"

# A throwaway AIRFLOW_HOME, so that loading the DagBag writes nothing under ~.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAG_FILE.parent)
os.environ.pop("CARTD_LAKE_START_DATE", None)  # check the default start date

try:
    from airflow.models import DagBag
except ImportError:
    sys.exit("apache-airflow is not installed in this Python (pip install apache-airflow)")

try:  # Airflow 3
    from airflow.sdk.execution_time import macros
except ImportError:  # Airflow 2
    from airflow import macros
from airflow.timetables.base import DataInterval, TimeRestriction

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"[{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


# ---------------------------------------------------------------- 1. DagBag
try:
    bag = DagBag(dag_folder=str(DAG_FILE), include_examples=False)
except TypeError:  # Airflow 3 dropped include_examples (LOAD_EXAMPLES is off above)
    bag = DagBag(dag_folder=str(DAG_FILE))
check(not bag.import_errors, f"no import errors {dict(bag.import_errors) or ''}")
dag = bag.dags.get(DAG_ID)
check(dag is not None, f"DAG {DAG_ID!r} found (found: {sorted(bag.dags)})")
if dag is None:
    sys.exit(1)

check(dag.catchup is True, "catchup is on (backfills)")
check(dag.max_active_runs == 1, "one active run at a time")
timetable = dag.timetable
check(type(timetable).__name__ == "CronDataIntervalTimetable", f"data-interval timetable ({type(timetable).__name__})")
check(getattr(timetable, "_expression", getattr(timetable, "expression", None)) == "0 * * * *", "cron is hourly (0 * * * *)")
check(dag.start_date.utcoffset() == timedelta(0), f"start_date is UTC ({dag.start_date})")
check(dag.start_date.strftime("%Y-%m-%d %H:%M") == "2026-12-01 00:00", "default start_date 2026-12-01 00:00")

check(set(dag.task_ids) == {"ingest", "silver", "gold"}, f"task ids ingest, silver, gold ({sorted(dag.task_ids)})")
tasks = {t: dag.get_task(t) for t in ("ingest", "silver", "gold")}
check(tasks["ingest"].upstream_task_ids == set(), "ingest has no upstream")
check(tasks["silver"].upstream_task_ids == {"ingest"}, "silver runs after ingest")
check(tasks["gold"].upstream_task_ids == {"silver"}, "gold runs after silver")
for name, task in tasks.items():
    check(type(task).__name__ == "BashOperator", f"{name} is a BashOperator")
    check(task.retries >= 1, f"{name} retries ({task.retries})")
check(99 in tasks["gold"].skip_on_exit_code, "gold: exit 99 means skipped")

# Plain text of the commands (before Jinja), as a reader sees them.
raw = {name: task.bash_command for name, task in tasks.items()}
check("cartd-lake ingest" in raw["ingest"] and "--once" in raw["ingest"], "ingest command names cartd-lake ingest ... --once")
check("cartd-lake silver" in raw["silver"] and "--hour" in raw["silver"], "silver command names cartd-lake silver ... --hour")
check("cartd-lake gold" in raw["gold"] and "--abandon-after 24h" in raw["gold"], "gold command names cartd-lake gold ... --abandon-after 24h")

# ------------------------------------------------- 2. the timetable's intervals
try:  # Airflow 3: the DAG holds an SDK timetable; the scheduler uses its core twin
    from airflow.serialization.encoders import coerce_to_core_timetable

    core_timetable = coerce_to_core_timetable(timetable)
except ImportError:  # Airflow 2: it is the core timetable already
    core_timetable = timetable


def next_run(after: DataInterval | None):
    """The scheduler's next run after `after` (None: the first catchup run)."""
    return core_timetable.next_dagrun_info(
        last_automated_data_interval=after,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
    )


first = next_run(None)
check(first.data_interval.start == dag.start_date and first.data_interval.end == dag.start_date + timedelta(hours=1),
      f"first catchup run covers [start_date, +1 h): {first.data_interval.start} .. {first.data_interval.end}")
second = next_run(first.data_interval)
check(second.data_interval.start == first.data_interval.end, "runs follow hour by hour")
# The run that closes 2026-12-02 (23:00-24:00), and the one after (00:00 of 2026-12-03).
before_23 = DataInterval(dag.start_date + timedelta(days=1, hours=22), dag.start_date + timedelta(days=1, hours=23))
run_23 = next_run(before_23)
run_00 = next_run(run_23.data_interval)

# ------------------------------------- 3. render and run the commands, stubbed
stub_dir = Path(tempfile.mkdtemp(prefix="cartd-lake-stub-"))
atexit.register(shutil.rmtree, stub_dir, ignore_errors=True)
stub_log = stub_dir / "calls.jsonl"
stub = stub_dir / "cartd-lake"
stub.write_text(
    f"#!{sys.executable}\n"
    "import json, os, sys\n"
    "with open(os.environ['STUB_LOG'], 'a') as f:\n"
    "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
)
stub.chmod(0o755)


class _Variables:
    """Stands in for Jinja's `var`: var.value.get(key, default)."""

    def __init__(self, values: dict[str, str]):
        outer = values

        class _Value:
            def get(self, key, default=None):
                return outer.get(key, default)

        self.value = _Value()


def run_task(name: str, info, variables: dict[str, str], environ: dict[str, str]):
    """Render task `name` for run `info` and run it with bash; returns (exit code, calls, output)."""
    task = tasks[name]
    logical = info.logical_date
    context = {
        "data_interval_start": info.data_interval.start,
        "data_interval_end": info.data_interval.end,
        "logical_date": logical,
        "ds": logical.strftime("%Y-%m-%d"),
        "macros": macros,
        "var": _Variables(variables),
    }
    command = task.render_template(task.bash_command, context)
    task_env = task.render_template(task.env, context)
    env = {"PATH": f"{stub_dir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(stub_log)}
    env.update(environ)  # the worker's environment (append_env=True)
    env.update(task_env)  # then the task's env, as BashOperator does
    stub_log.unlink(missing_ok=True)
    proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)
    calls = [json.loads(line) for line in stub_log.read_text().splitlines()] if stub_log.exists() else []
    return proc.returncode, calls, proc.stdout + proc.stderr


ENV = {"CARTD_LAKE_URL": "s3://env-lake/cartd", "CARTD_LAKE_FROM": "nats://env-nats:4222"}
VARS = {"CARTD_LAKE_URL": "file:///srv/lake dir/it's", "CARTD_LAKE_FROM": "file:///var/lib/cartd/cartd.events.ndjson"}

# The first run (2026-12-01 00:00-01:00), settings from the environment only.
rc, calls, _ = run_task("ingest", first, {}, ENV)
check(rc == 0 and calls == [["ingest", "--lake", "s3://env-lake/cartd", "--from", "nats://env-nats:4222", "--once"]],
      f"00:00 run, env settings: ingest -> {calls}")
rc, calls, _ = run_task("silver", first, {}, ENV)
check(rc == 0 and calls == [["silver", "--lake", "s3://env-lake/cartd", "--date", "2026-12-01", "--hour", "00"]],
      f"00:00 run: silver -> {calls}")
rc, calls, out = run_task("gold", first, {}, ENV)
check(rc == 99 and calls == [], f"00:00 run: gold skipped (exit {rc}, calls {calls}): {out.strip()}")

# An hour in the middle of a day.
rc, calls, _ = run_task("silver", second, {}, ENV)
check(rc == 0 and calls == [["silver", "--lake", "s3://env-lake/cartd", "--date", "2026-12-01", "--hour", "01"]],
      f"01:00 run: silver -> {calls}")

# The run of 2026-12-02 23:00-24:00: Variables set (they win over the environment).
check(run_23.data_interval.start.strftime("%Y-%m-%d %H") == "2026-12-02 23", f"run of {run_23.data_interval.start}")
rc, calls, _ = run_task("ingest", run_23, VARS, ENV)
check(rc == 0 and calls == [["ingest", "--lake", VARS["CARTD_LAKE_URL"], "--from", VARS["CARTD_LAKE_FROM"], "--once"]],
      f"23:00 run, Variables win: ingest -> {calls}")
rc, calls, _ = run_task("silver", run_23, VARS, ENV)
check(rc == 0 and calls == [["silver", "--lake", VARS["CARTD_LAKE_URL"], "--date", "2026-12-02", "--hour", "23"]],
      f"23:00 run: silver -> {calls} (ds = {run_23.logical_date:%Y-%m-%d})")
rc, calls, _ = run_task("gold", run_23, VARS, ENV)
check(rc == 0 and calls == [["gold", "--lake", VARS["CARTD_LAKE_URL"], "--date", "2026-12-01", "--abandon-after", "24h"]],
      f"23:00 run: gold for the day before -> {calls}")

# The next run, 2026-12-03 00:00-01:00: silver of the new day, gold skipped.
rc, calls, _ = run_task("silver", run_00, VARS, ENV)
check(rc == 0 and calls == [["silver", "--lake", VARS["CARTD_LAKE_URL"], "--date", "2026-12-03", "--hour", "00"]],
      f"next 00:00 run: silver -> {calls}")
rc, calls, _ = run_task("gold", run_00, VARS, ENV)
check(rc == 99 and calls == [], f"next 00:00 run: gold skipped (exit {rc})")

# Nothing configured: the task fails (not skipped) and cartd-lake is not called.
for name in ("ingest", "silver", "gold"):
    rc, calls, out = run_task(name, run_23, {}, {})
    check(rc not in (0, 99) and calls == [] and "CARTD_LAKE_URL" in out,
          f"no lake URL: {name} fails without calling cartd-lake (exit {rc})")
rc, calls, out = run_task("ingest", run_23, {}, {"CARTD_LAKE_URL": "s3://env-lake/cartd"})
check(rc not in (0, 99) and calls == [] and "CARTD_LAKE_FROM" in out,
      f"no event source: ingest fails without calling cartd-lake (exit {rc})")

print()
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("DAG checks passed")
