"""``build.py serve``: one port for ``dist/`` and ``/api/*``, the SQLite store under ``--data``.

The HTTP server is uvicorn (asyncio, llhttp's strict parser through httptools) with
the guards of ``localserver.protocol``; the requests go to the same sans-I/O API as the
Lambda function through ``localserver.app``. README "Self-hosting" says why uvicorn.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import uvicorn
from ballotbox.core.campaign import Campaign
from ballotbox.core.privacy import Hasher
from ballotbox.core.signature import Signer
from ballotbox.http import Api
from ballotbox.stores.sqlite import DEFAULT_FILENAME, SqliteStore

from localserver import logs
from localserver.app import VoteApp
from localserver.clock import make_clock
from localserver.headers import security_headers
from localserver.identity import pow_setting, wechat_client
from localserver.logs import log
from localserver.protocol import guarded_protocol
from localserver.proxy import TrustedProxies
from localserver.secrets import ensure_secrets, private_data_dir, read_wechat_secret
from localserver.static import StaticSite
from localserver.wechat_refresher import start_share

DRAIN_SECONDS = 10
#: An idle keep-alive connection is closed after this long (a phone reuses it
#: between taps; longer only holds descriptors for clients that have gone).
KEEP_ALIVE_SECONDS = 15
#: Worker threads: the group commit batches the votes that wait together, so more
#: threads than clients (16 in the benchmark) keep batches full.
WORKERS = 32
DEFAULT_REQUEST_TIMEOUT = 20.0
DEFAULT_MAX_CONNECTIONS = 4096
#: Descriptors kept back from the connection budget: the store, logs, listeners.
RESERVED_FDS = 64


def raise_fd_limit() -> int:
    """Raise this process's open-file soft limit to its hard limit; return the new soft limit.

    The common default soft limit (1,024) is what a thousand idle connections exhaust.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # a container may forbid it
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after its graceful stop (so the process would
        # die of it); our contract is a clean exit 0 after SIGINT/SIGTERM.
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def load_campaign(dist: Path) -> Campaign:
    return Campaign.from_dict(json.loads((dist / "campaign.json").read_text("utf-8")))


def run(
    dist: Path,
    *,
    host: str,
    port: int,
    data_dir: Path,
    now: datetime | None,
    trusted_proxies: Sequence[str] = (),
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> int:
    """Serve until SIGINT/SIGTERM, then finish in-flight requests, close the store, return 0."""
    logs.configure()
    os.umask(0o077)  # everything this process creates (the ledger, its WAL) is private
    campaign = load_campaign(dist)
    secrets = ensure_secrets(data_dir)
    signer = Signer(secrets.receipt_seed)
    if campaign.receipt_key and campaign.receipt_key != signer.public_key_b64:
        log(
            f"warning: {dist / 'campaign.json'} has receipt_key {campaign.receipt_key}, "
            f"but the key in {data_dir} is {signer.public_key_b64}: receipts will not verify"
        )
    fds = raise_fd_limit()
    max_connections = max(1, min(max_connections, fds - RESERVED_FDS))
    clock = make_clock(now)
    # A vote that waits more than 2 s for the write lock gets a 503 and retries
    # rather than holding a phone on a spinner (the lock is only ever held by other
    # processes, e.g. a manual sqlite3 session: this server has a single writer).
    store = SqliteStore(data_dir / DEFAULT_FILENAME, busy_timeout_ms=2000)
    private_data_dir(data_dir)  # the ledger files exist now: 0600, the folder 0700
    policy = campaign.identity
    wechat = wechat_client(policy.wechat_appid, read_wechat_secret(data_dir))
    if policy.mode == "wechat" and wechat is None:
        log(f"warning: wechat mode, but no AppSecret in {data_dir}/wechat_secret: sign-ins get 503")
    share = start_share(dist, data_dir)  # WeChat share cards, when the campaign has them
    api = Api(
        campaign=campaign,
        signer=signer,
        hasher=Hasher(secrets.hash_key),
        store=store,
        clock=clock.now,
        pow_bits=pow_setting(data_dir, policy.pow_bits),
        wechat=wechat,
        jssdk=share[0] if share else None,
    )
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="request")
    app = VoteApp(
        api=api,
        site=StaticSite(dist),
        clock=clock,
        proxies=TrustedProxies.of(trusted_proxies),
        pool=pool,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes IPv4 too
    sock.bind((host, port))
    sock.set_inheritable(True)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=guarded_protocol(request_timeout, max_connections),
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,  # --trusted-proxy decides, in localserver.proxy
        server_header=False,
        headers=list(security_headers(https=False).items()),
        backlog=1024,  # 16+ clients connecting at once must not wait for SYN retries
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=DRAIN_SECONDS,
    )
    server = _Server(config)
    clock_note = f" (simulated clock from {now.isoformat()})" if now else ""
    proxies_note = f"; trusted proxies {', '.join(trusted_proxies)}" if trusted_proxies else ""
    log(
        f"Serving {dist} on http://{host}:{sock.getsockname()[1]}/{clock_note}{proxies_note}; "
        f"up to {max_connections} connections; Ctrl-C stops"
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        pool.shutdown(wait=True)  # the requests already running finish first
        store.close()  # commits what is queued, then closes every connection
        if share:
            share[1].stop()
    log("stopped cleanly")
    return 0
