"""``serve``'s WeChat share cards: the server refreshes the jsapi_ticket itself (issue 16).

On one server there is no separate scheduled function: a daemon thread runs
``ballotbox.jssdk.refresh`` when it is due and request handlers read the result from
memory. The state is also kept in ``DATA/wechat_ticket.json`` (0600: it holds the
access_token), so a restart reuses the valid token and ticket instead of spending
WeChat's daily ration. The AppSecret is ``DATA/wechat_secret``, as in wechat mode;
``WECHAT_API_BASE`` points the calls at another server (the tests' fake WeChat).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ballotbox.jssdk import JsSdk, ShareConfig, TicketClient, TicketState, refresh
from ballotbox.wechat import DEFAULT_API_BASE
from ballotbox.wechat_ticket import WeChatTickets

from localserver.secrets import read_wechat_secret

STATE_FILE = "wechat_ticket.json"


class TicketRefresher:
    """The one refresher of this server, and the ticket source its API reads."""

    def __init__(
        self,
        client: TicketClient | None,
        state_file: Path,
        *,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._file = state_file
        self._clock = clock
        self._log = log or _stderr
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._state = TicketState.from_json(state_file.read_text("utf-8"))
        except FileNotFoundError:
            self._state = TicketState()

    def ticket(self, now: float) -> str | None:
        with self._lock:
            return self._state.usable_ticket(now)

    def run_once(self) -> float:
        """Refresh if due; the seconds until the next run."""
        if self._client is None:
            return 3600.0
        with self._lock:
            before = self._state
        after, delay = refresh(before, self._client, self._clock())
        if after != before:
            with self._lock:
                self._state = after
            self._save(after)
            if after.last_error and after.last_error != before.last_error:
                self._log(f"wechat share: {after.last_error}; next try in {delay:.0f} s")
        return delay

    def _save(self, state: TicketState) -> None:
        tmp = self._file.with_name(self._file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(state.to_json())
        tmp.replace(self._file)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self._stop.wait(self.run_once())

        self._thread = threading.Thread(target=loop, name="wechat-ticket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def start_share(
    dist: Path, data_dir: Path, environ: Mapping[str, str] = os.environ
) -> tuple[JsSdk, TicketRefresher] | None:
    """The JS-SDK endpoint and its running refresher, or None when share cards are off."""
    data = json.loads((dist / "campaign.json").read_text("utf-8"))
    config = ShareConfig.from_campaign(data)
    if config is None:
        return None
    secret = read_wechat_secret(data_dir)
    client = None
    if secret is None:
        sys.stderr.write(
            f"warning: WeChat share cards need the AppSecret in {data_dir}/wechat_secret; "
            "until then /api/wechat/jssdk answers 503 and pages share without a card\n"
        )
    else:
        base = environ.get("WECHAT_API_BASE", "").strip() or DEFAULT_API_BASE
        client = WeChatTickets(config.appid, secret, base_url=base)
    refresher = TicketRefresher(client, data_dir / STATE_FILE)
    refresher.start()
    return JsSdk(config, refresher), refresher
