"""A fake WeChat OAuth server on 127.0.0.1: the authorize redirect and the code exchange.

It behaves like ``open.weixin.qq.com/connect/oauth2/authorize`` (a silent
``snsapi_base`` sign-in: straight back to ``redirect_uri`` with ``code`` and ``state``)
and ``api.weixin.qq.com/sns/oauth2/access_token`` (HTTP 200 JSON, ``errcode`` on error):
40013 wrong AppID, 40125 wrong secret, 40029 unknown code, 40163 code already used,
-1 "system busy" when told to be. Each code names one user: ``user_for`` sets who signs
in next, so tests can play one person on two phones.

For the JS-SDK share card (issue 16) it also plays ``cgi-bin/stable_token`` (POST JSON;
``force_refresh`` replaces the token, at most 20 times a day), ``cgi-bin/token`` and
``cgi-bin/ticket/getticket``, counts every call, and answers the errcodes a refresher must
survive: 40001 (the token was replaced elsewhere: ``invalidate_tokens``), 40164 (the
caller's IP is not whitelisted: ``whitelisted = False``), 45009 (the daily quota is
used up: ``quota`` calls a day) and any errcode queued in ``token_errors`` /
``ticket_errors``.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

APPID = "wxfa4e0a1b2c3d4e5f"
SECRET = "f" * 32


class FakeWeChat:
    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # code -> OpenID, until used
        self.used: set[str] = set()
        self.next_user = "oUser-alice-0000000000000000"
        self.busy = False
        self.exchanges = 0
        self.lock = threading.Lock()
        self.url = ""
        # JS-SDK: tokens, the ticket and what the refresher asked for.
        self.token_calls = 0
        self.forced_calls = 0
        self.ticket_calls = 0
        self.tokens: dict[str, str] = {}  # valid access_token -> the ticket it gets
        self.current_token = ""
        self.whitelisted = True
        self.quota = 2000
        self.token_errors: list[int] = []
        self.ticket_errors: list[int] = []

    def invalidate_tokens(self) -> None:
        """Someone else replaced the token (another server called cgi-bin/token)."""
        with self.lock:
            self.tokens.clear()
            self.current_token = ""

    def valid_ticket(self) -> str | None:
        """The jsapi_ticket WeChat would check signatures against right now."""
        with self.lock:
            return self.tokens.get(self.current_token)

    def access_token(self, appid: str, secret: str, force: bool) -> dict[str, Any]:
        with self.lock:
            self.token_calls += 1
            self.forced_calls += force
            if not self.whitelisted:
                return {"errcode": 40164, "errmsg": "invalid ip 203.0.113.7, not in whitelist"}
            if self.token_calls > self.quota or (force and self.forced_calls > 20):
                return {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
            if self.token_errors:
                return {"errcode": self.token_errors.pop(0), "errmsg": "queued error"}
            if appid != APPID:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if secret != SECRET:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            if force or not self.current_token:
                self.tokens.pop(self.current_token, None)
                self.current_token = "TOKEN_" + secrets.token_hex(16)
                self.tokens[self.current_token] = "TICKET_" + secrets.token_hex(20)
            return {"access_token": self.current_token, "expires_in": 7200}

    def jsapi_ticket(self, token: str, kind: str) -> dict[str, Any]:
        with self.lock:
            self.ticket_calls += 1
            if not self.whitelisted:
                return {"errcode": 40164, "errmsg": "invalid ip 203.0.113.7, not in whitelist"}
            if self.ticket_errors:
                return {"errcode": self.ticket_errors.pop(0), "errmsg": "queued error"}
            if kind != "jsapi":
                return {"errcode": 40097, "errmsg": "invalid args"}
            ticket = self.tokens.get(token)
            if ticket is None:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": 7200}

    def user_for(self, openid: str) -> None:
        self.next_user = openid

    def issue(self, openid: str | None = None) -> str:
        code = "0" + secrets.token_hex(15)
        with self.lock:
            self.codes[code] = openid or self.next_user
        return code

    def exchange(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.exchanges += 1
            if self.busy:
                return {"errcode": -1, "errmsg": "system error"}
            if query.get("appid") != APPID:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != SECRET:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            if query.get("grant_type") != "authorization_code":
                return {"errcode": 40002, "errmsg": "invalid grant_type"}
            code = query.get("code", "")
            if code in self.used:
                return {"errcode": 40163, "errmsg": "code been used"}
            openid = self.codes.pop(code, None)
            if openid is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            self.used.add(code)
            return {
                "access_token": "ACCESS_" + secrets.token_hex(8),
                "expires_in": 7200,
                "refresh_token": "REFRESH_" + secrets.token_hex(8),
                "openid": openid,
                "scope": "snsapi_base",
            }


def _handler(fake: FakeWeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/connect/oauth2/authorize":
                ok = query.get("appid") == APPID and query.get("scope") == "snsapi_base"
                if not ok or not query.get("redirect_uri"):
                    self._send(400, b"bad authorize request", "text/plain")
                    return
                target = query["redirect_uri"]
                sep = "&" if "?" in target else "?"
                back = urlencode({"code": fake.issue(), "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", f"{target}{sep}{back}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if url.path == "/cgi-bin/token":
                got = fake.access_token(query.get("appid", ""), query.get("secret", ""), False)
                self._send(200, json.dumps(got).encode(), "application/json")
                return
            if url.path == "/cgi-bin/ticket/getticket":
                got = fake.jsapi_ticket(query.get("access_token", ""), query.get("type", ""))
                self._send(200, json.dumps(got).encode(), "application/json")
                return
            if url.path == "/sns/oauth2/access_token":
                body = json.dumps(fake.exchange(query)).encode()
                self._send(200, body, "application/json")  # WeChat: errors are 200 too
                return
            self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                body = None
            if urlsplit(self.path).path != "/cgi-bin/stable_token" or not isinstance(body, dict):
                self._send(404, b"not found", "text/plain")
                return
            if body.get("grant_type") != "client_credential":
                got: dict[str, Any] = {"errcode": 40002, "errmsg": "invalid grant_type"}
            else:
                force = body.get("force_refresh") is True
                got = fake.access_token(str(body.get("appid")), str(body.get("secret")), force)
            self._send(200, json.dumps(got).encode(), "application/json")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def fake_wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
