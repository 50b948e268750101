"""The framework's ceiling for bench/throughput.py: Flask's "hello world" on waitress.

Usage: python bench/hello_world.py PORT THREADS CONNECTIONS [SEND_BYTES]

SEND_BYTES: waitress's send_bytes, as `reader serve` sets it (readerapp/cli.py);
waitress's own default when left out.
"""

from __future__ import annotations

import sys

from flask import Flask
from waitress import serve

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"


if __name__ == "__main__":
    port, threads, connections = map(int, sys.argv[1:4])
    same = {"send_bytes": int(sys.argv[4])} if len(sys.argv) > 4 else {}
    serve(
        app,
        host="127.0.0.1",
        port=port,
        threads=threads,
        connection_limit=connections,
        ident="readerapp",
        **same,
    )
