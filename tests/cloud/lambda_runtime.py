"""A stand-in for the Lambda runtime: ``python -I -S lambda_runtime.py TASK RUNTIME PORT_FILE``.

Standard library only: it runs in an interpreter that sees nothing but the unzipped
function (``TASK``, the working directory, as ``/var/task`` is) and the packages the
Lambda Python runtime ships (``RUNTIME``: boto3 and its dependencies). One execution
environment answers one invocation at a time, as Lambda does; the emulated edge posts
each event to ``/invoke`` and gets the handler's result back. It writes the port it
listens on to ``PORT_FILE`` once the handler's module is imported; what it prints is the
function's own output (its logs).
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import signal
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class Context:
    """The parts of Lambda's context object a handler may use."""

    def __init__(self, timeout_s: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "vote")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = "arn:aws:lambda:emulated:function:" + self.function_name
        self.log_group_name = "/aws/lambda/" + self.function_name
        self.log_stream_name = "emulated"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    task, runtime, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
    # A stuck invocation can be asked where it is: SIGUSR1 prints every thread's stack.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    sys.path[:0] = [task, runtime]
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "6"))
    # Init phase: Lambda imports the handler's module before the first event.
    handler = getattr(importlib.import_module(module_name), function_name)

    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                result: Any = handler(event, Context(timeout_s))
                body = json.dumps({"ok": True, "result": result}).encode()
            except Exception as error:
                body = json.dumps({"ok": False, "error": repr(error)}).encode()
                print(json.dumps({"level": "error", "unhandled": repr(error)}), flush=True)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Invoke)
    with open(port_file + ".tmp", "w", encoding="ascii") as fh:
        fh.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
