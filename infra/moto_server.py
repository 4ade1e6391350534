"""moto server for the local stack, with requests serialized.

moto's DynamoDB backend is not thread-safe: concurrent TransactWriteItems copy tables while other
threads change them ("dictionary changed size during iteration", answered as HTTP 500). Real
DynamoDB has no such fault, so the emulator runs one request at a time (it is bound by the GIL
anyway, so little throughput is lost).

    python -m infra.moto_server HOST PORT
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


def serialized(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return [b"".join(app(environ, start_response))]

    return handle


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    run_simple(
        host,
        port,
        serialized(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
