"""WeChat's access_token and jsapi_ticket over HTTPS: the refresher's I/O (issue 16).

``cgi-bin/stable_token`` rather than ``cgi-bin/token``: its normal mode hands back the
still-valid token instead of replacing it, so a second caller (a staging server, a
colleague's script) cannot silently invalidate ours. The AppSecret travels in the POST
body, never in a URL that could be logged. ``base_url`` is configurable
(``WECHAT_API_BASE``) so the tests point it at their fake WeChat.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

from ballotbox.jssdk import Grant, WeChatApiError
from ballotbox.wechat import DEFAULT_API_BASE, WeChatApi


class WeChatTickets(WeChatApi):
    """The two calls the refresher makes, with short timeouts (it runs on a schedule)."""

    def __init__(
        self, appid: str, secret: str, *, base_url: str = DEFAULT_API_BASE, timeout: float = 5.0
    ) -> None:
        super().__init__(appid, secret, base_url=base_url, timeout=timeout)

    def access_token(self, *, force_refresh: bool) -> Grant:
        body = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            f"{self._base}/cgi-bin/stable_token",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        return _grant(self._call(request), "access_token")

    def jsapi_ticket(self, access_token: str) -> Grant:
        query = urlencode({"access_token": access_token, "type": "jsapi"})
        request = urllib.request.Request(f"{self._base}/cgi-bin/ticket/getticket?{query}")  # noqa: S310
        return _grant(self._call(request), "ticket")

    def _call(self, request: urllib.request.Request) -> dict[str, Any]:
        try:
            data = self._fetch(request)
        except (OSError, ValueError) as exc:  # unreachable, timeout, HTTP error, not JSON
            raise WeChatApiError(None, f"no usable answer: {exc}") from exc
        errcode = data.get("errcode", 0)
        if errcode != 0:
            raise WeChatApiError(
                errcode if isinstance(errcode, int) else None, str(data.get("errmsg", ""))
            )
        return data


def _grant(data: dict[str, Any], key: str) -> Grant:
    value, expires = data.get(key), data.get("expires_in")
    if not isinstance(value, str) or not value or not isinstance(expires, int) or expires < 60:
        raise WeChatApiError(None, f"the answer has no usable {key}")
    return Grant(value, expires)
