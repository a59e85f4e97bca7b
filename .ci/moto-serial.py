"""moto's server, answering one request at a time.

`python3 -m moto.server` runs werkzeug with threads, and moto's TransactWriteItems is not
isolated between threads: it snapshots the tables before a transaction and restores that snapshot
when the transaction is cancelled, which can undo or resurrect writes of transactions running
beside it. DynamoDB's transactions are serializable, so the tests run moto serially instead
(docs/DECISIONS.md, DynamoDB). `GET /cartd-serial-moto` answers 200 so `.ci/run` can tell this
server from a threaded one.

Usage: python3 .ci/moto-serial.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

MARKER = "/cartd-serial-moto"


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    moto = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        if environ.get("PATH_INFO") == MARKER:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"serial\n"]
        return moto(environ, start_response)

    run_simple(host, port, app, threaded=False, processes=1)


if __name__ == "__main__":
    main()
