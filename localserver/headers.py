"""The security headers, defined once for the local server and for production.

``infra/`` tests compare ``SECURITY_HEADERS`` with CloudFront's response headers
policy, so what a developer sees locally is what voters get.
"""

from __future__ import annotations

from typing import Final

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}

#: Only over HTTPS: sent on plain http://127.0.0.1 it would pin localhost to TLS.
HSTS_HEADER: Final[dict[str, str]] = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


def security_headers(*, https: bool) -> dict[str, str]:
    return {**SECURITY_HEADERS, **HSTS_HEADER} if https else dict(SECURITY_HEADERS)
