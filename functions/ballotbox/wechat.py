"""WeChat's silent OAuth (``snsapi_base``): the server side of the code-for-OpenID exchange.

The browser only ever carries the one-time ``code``; this function trades it with the
Official Account's AppID and secret for the OpenID at
``{base}/sns/oauth2/access_token``. Trusting an OpenID the browser sends is the classic
failure (bots forged them), so the OpenID never comes from the client.

An adapter (network I/O), kept out of the core; ``base_url`` is configurable so tests
point it at a local fake server. WeChat answers errors as HTTP 200 with ``errcode``.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from ballotbox.core.errors import Unavailable, WeChatCodeInvalid

DEFAULT_API_BASE: Final = "https://api.weixin.qq.com"
#: The voter's own problem (reopen the page): invalid code, missing code, code already
#: used, code expired. Everything else (bad AppID or secret, quota, -1 "system busy") is
#: ours or WeChat's, so the voter gets a deliberate 503 and may retry.
CODE_ERRORS: Final = frozenset({40029, 40163, 41008, 42003})
MAX_OPENID: Final = 128


class OpenIdExchange(Protocol):
    """What the API needs from WeChat: the OpenID behind a one-time OAuth code."""

    def openid(self, code: str) -> str: ...


#: WeChat's answers are small JSON objects; anything longer is not one of them.
MAX_ANSWER: Final = 64 * 1024


class WeChatApi:
    """A client of WeChat's server API: the account's credentials and a short timeout."""

    def __init__(
        self, appid: str, secret: str, *, base_url: str = DEFAULT_API_BASE, timeout: float
    ) -> None:
        if not appid or not secret:
            raise ValueError("the WeChat AppID and secret are both needed")
        self._appid = appid
        self._secret = secret
        self._base = base_url.rstrip("/")
        if not self._base.startswith(("https://", "http://")):
            raise ValueError("the WeChat API base must be an http(s) URL")
        self._timeout = timeout

    def _fetch(self, request: urllib.request.Request | str) -> dict[str, Any]:
        """WeChat's answer as a JSON object; ``OSError`` or ``ValueError`` when there is none."""
        # The scheme is checked in __init__: only http(s), never file: or custom.
        with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
            data = json.loads(answer.read(MAX_ANSWER))
        if not isinstance(data, dict):
            raise ValueError("the answer is not an object")
        return data


class WeChatOAuth(WeChatApi):
    """The real exchange over HTTPS, with a short timeout (a voter is waiting)."""

    def __init__(
        self, appid: str, secret: str, *, base_url: str = DEFAULT_API_BASE, timeout: float = 3.0
    ) -> None:
        super().__init__(appid, secret, base_url=base_url, timeout=timeout)

    def openid(self, code: str) -> str:
        query = urlencode(
            {
                "appid": self._appid,
                "secret": self._secret,
                "code": code,
                "grant_type": "authorization_code",
            }
        )
        url = f"{self._base}/sns/oauth2/access_token?{query}"
        try:
            data = self._fetch(url)
        except (OSError, ValueError) as exc:  # unreachable, timeout, HTTP error, not JSON
            raise Unavailable(f"WeChat did not answer the code exchange: {exc}") from exc
        errcode = data.get("errcode", 0)
        if errcode in CODE_ERRORS:
            raise WeChatCodeInvalid(f"WeChat errcode {errcode}")
        if errcode != 0:
            raise Unavailable(f"WeChat errcode {errcode}: {data.get('errmsg', '')}")
        openid = data.get("openid")
        if not isinstance(openid, str) or not 0 < len(openid) <= MAX_OPENID:
            raise Unavailable("WeChat's answer has no OpenID")
        return openid
