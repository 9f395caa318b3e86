"""A fake WeChat OAuth server on 127.0.0.1: the authorize redirect and the code exchange.

It behaves like ``open.weixin.qq.com/connect/oauth2/authorize`` (a silent
``snsapi_base`` sign-in: straight back to ``redirect_uri`` with ``code`` and ``state``)
and ``api.weixin.qq.com/sns/oauth2/access_token`` (HTTP 200 JSON, ``errcode`` on error):
40013 wrong AppID, 40125 wrong secret, 40029 unknown code, 40163 code already used,
-1 "system busy" when told to be. Each code names one user: ``user_for`` sets who signs
in next, so tests can play one person on two phones.
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
            if url.path == "/sns/oauth2/access_token":
                body = json.dumps(fake.exchange(query)).encode()
                self._send(200, body, "application/json")  # WeChat: errors are 200 too
                return
            self._send(404, b"not found", "text/plain")

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
