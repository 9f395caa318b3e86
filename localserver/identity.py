"""``serve``'s side of the identity modes: run-time difficulty, WeChat, and who to limit.

- The proof-of-work difficulty can change during a campaign without a rebuild: write a
  number (leading zero bits) to ``DATA/pow_difficulty``; the next challenge uses it.
- ``wechat`` mode reads the AppSecret from ``DATA/wechat_secret``; ``WECHAT_API_BASE``
  points the code exchange at another server (the tests' fake WeChat).
- Per-network limits need the client's address: ``localserver.proxy`` decides it
  (the socket peer, or what a ``--trusted-proxy`` says in ``X-Forwarded-For``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ballotbox.core.identity import MAX_POW_BITS

if TYPE_CHECKING:
    from ballotbox.wechat import WeChatOAuth

POW_FILE = "pow_difficulty"


class FileSetting:
    """An integer read from a file, re-read only when the file's mtime changes."""

    def __init__(self, path: Path, default: int, low: int, high: int) -> None:
        self._path = path
        self._default = default
        self._range = (low, high)
        self._seen: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> int:
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            return self._default
        with self._lock:
            if self._seen is not None and self._seen[0] == mtime:
                return self._seen[1]
            try:
                value = int(self._path.read_text("ascii").strip())
            except (OSError, ValueError):
                value = self._default  # a half-written or wrong file: keep the setting
            low, high = self._range
            if not low <= value <= high:
                value = self._default
            self._seen = (mtime, value)
            return value


def pow_setting(data_dir: Path, default: int) -> Callable[[], int]:
    return FileSetting(data_dir / POW_FILE, default, 1, MAX_POW_BITS)


def wechat_client(
    appid: str | None, secret: str | None, environ: Mapping[str, str] = os.environ
) -> WeChatOAuth | None:
    """The code exchange for wechat mode, or None when the AppID or secret is missing."""
    if not appid or not secret:
        return None
    from ballotbox.wechat import DEFAULT_API_BASE, WeChatOAuth

    base = environ.get("WECHAT_API_BASE", "").strip() or DEFAULT_API_BASE
    return WeChatOAuth(appid, secret, base_url=base)
