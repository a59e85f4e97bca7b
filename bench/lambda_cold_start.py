#!/usr/bin/env python3
"""bench/lambda_cold_start.py: how long `cartd lambda` takes from process start to its first
answer, on a stand-in for the Lambda Runtime API (the HTTP protocol a custom runtime polls).

Each run starts a fresh `cartd lambda` process, hands it one API Gateway HTTP API (v2) event
as its first invocation and times, from the moment the process was spawned:

  - the response to `GET /v1/products/book-001-pb` (the store is read), or
  - in separate runs, the response to `GET /health` (no store access),

on each store given. SQLite runs on a fresh file (migrations and the demo catalog included,
the worst case: a new install) and on a file an earlier run set up; DynamoDB runs on a moto
server when one answers (`BENCH_DYNAMODB_ENDPOINT`, default http://127.0.0.1:5005), which is
no stand-in for DynamoDB's latency: it measures cartd's own start, not the network's.

Usage:  python3 bench/lambda_cold_start.py [--runs 10] [--bin target/release/cartd]
Prints one line per case: median, p90 and max in milliseconds, and the largest peak RSS
(VmHWM) of the function's process when it had answered.
"""

import argparse
import http.server
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

PRODUCT = "/v1/products/book-001-pb"

EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/health",
    "rawQueryString": "",
    "headers": {"accept": "application/json", "host": "api.example.com"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.com",
        "http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1",
                 "sourceIp": "198.51.100.7", "userAgent": "bench"},
        "requestId": "bench",
        "routeKey": "$default",
        "stage": "$default",
        "time": "05/Dec/2026:03:00:00 +0000",
        "timeEpoch": 1796439600000,
    },
    "isBase64Encoded": False,
}


class RuntimeApi(http.server.ThreadingHTTPServer):
    """Serves one invocation of `event` and records when its response arrived."""

    def __init__(self, event):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = json.dumps(event).encode()
        self.given = False
        self.answered = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.server.given:
            # Only one invocation per process: hold the poll until the process is killed.
            time.sleep(60)
            return
        self.server.given = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:cartd")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.event)))
        self.end_headers()
        self.wfile.write(self.server.event)

    def do_POST(self):
        at = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.answered.put((at, self.path, body))


def one_run(binary, store, path):
    event = json.loads(json.dumps(EVENT))
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    api = RuntimeApi(event)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTD_")}
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "cartd",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "CARTD_STORE": store,
        "CARTD_LOG": "warn",
        "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_REGION": env.get("AWS_REGION", "us-east-1"),
    })
    started = time.monotonic()
    process = subprocess.Popen([binary, "lambda", "http"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        at, url, body = api.answered.get(timeout=60)
        rss_kib = peak_rss_kib(process.pid)
    finally:
        process.kill()
        process.wait()
        api.shutdown()
    if not url.endswith("/response"):
        raise SystemExit(f"the function failed: {url} {body[:300]!r} "
                         f"{process.stderr.read()[-2000:]!r}")
    status = json.loads(body)["statusCode"]
    if status != 200:
        raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
    return (at - started) * 1000, rss_kib


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def moto_up(endpoint):
    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
        return True
    except Exception:
        return False


def report(label, runs):
    times = sorted(ms for ms, _ in runs)
    rss = max(kib for _, kib in runs) / 1024
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    print(f"{label:<44} median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms   "
          f"max {times[-1]:7.1f} ms   peak RSS {rss:5.1f} MiB   ({len(times)} runs)", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..",
                                                      "target", "release", "cartd"))
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    cases = []
    fresh = iter(range(10**6))
    cases.append(("sqlite, new file: /health",
                  lambda: f"sqlite://{work}/new-{next(fresh)}.db", "/health"))
    cases.append(("sqlite, new file: product read",
                  lambda: f"sqlite://{work}/new-{next(fresh)}.db", PRODUCT))
    existing = f"sqlite://{work}/existing.db"
    one_run(args.bin, existing, "/health")  # migrations and the demo catalog, once
    cases.append(("sqlite, existing file: /health", lambda: existing, "/health"))
    cases.append(("sqlite, existing file: product read", lambda: existing, PRODUCT))
    endpoint = os.environ.get("BENCH_DYNAMODB_ENDPOINT", "http://127.0.0.1:5005")
    if moto_up(endpoint):
        table = f"cartd-cold-{uuid.uuid4().hex[:8]}"
        dynamo = f"dynamodb://{table}?endpoint={endpoint}&region=us-east-1"
        subprocess.run([args.bin, "migrate"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "CARTD_STORE": dynamo + "&create=true",
                            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        one_run(args.bin, dynamo, "/health")  # the demo catalog, once
        cases.append(("dynamodb (moto): /health", lambda: dynamo, "/health"))
        cases.append(("dynamodb (moto): product read", lambda: dynamo, PRODUCT))
    else:
        print(f"moto is not answering at {endpoint}: DynamoDB skipped", file=sys.stderr)
    for label, store, path in cases:
        report(label, [one_run(args.bin, store(), path) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
