"""The server's log: one line per event, no client address, no traceback, no raw bytes.

Every line goes through ``safe`` (control characters, quotes and non-ASCII become
escapes, so a request path cannot forge or split log lines), and the formatter drops
exception details: a traceback would print local variables' neighbourhood and, for
socket errors, the peer's address (PIPL: raw addresses are never stored).
"""

from __future__ import annotations

import logging
import sys
import time

_SAFE = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, 0x5C]}


def safe(text: str) -> str:
    """``text`` with control and non-ASCII characters escaped (``\\x1b``, ``\\u4e2d``)."""
    return text.translate(_SAFE).encode("ascii", "backslashreplace").decode("ascii")


_last_stamp: tuple[int, str] = (0, "")


def stamp() -> str:
    """UTC to the second (formatted once per second: a log line per request adds up)."""
    global _last_stamp  # a one-entry cache
    now = int(time.time())
    if _last_stamp[0] != now:
        _last_stamp = (now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
    return _last_stamp[1]


def log(message: str) -> None:
    """One escaped line on stderr (line-buffered: one write per line)."""
    sys.stderr.write(f"{stamp()} {safe(message)}\n")


class SafeFormatter(logging.Formatter):
    """The message only, escaped; ``exc_info`` and ``stack_info`` are never printed."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            # The kind of error only: its text may hold an address ("[Errno 104] ...").
            message += f" ({type(error).__name__})"
        return f"{stamp()} {record.levelname.lower()}: {safe(message)}"


def configure() -> None:
    """Route the server library's and asyncio's loggers through ``SafeFormatter``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter())
    for name in ("uvicorn", "uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler] if name != "uvicorn.error" else []
        logger.setLevel(logging.WARNING)
        logger.propagate = name == "uvicorn.error"
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []  # our own access line (ASGI app) has no address
    access.propagate = False
    access.disabled = True
