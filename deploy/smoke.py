"""The last step of every deploy: the public URL answers like a working vote site.

Four requests through the same door a voter uses: ``/api/health``, a status request,
a page and an asset. A failure names what is wrong and what to do, because the usual
causes are outside the code: AWS China's API Gateway not yet on the account's ICP
whitelist (every API call answers 403), a DNS record not pointing at the
distribution, a secret missing in SSM (the function answers 503), files not uploaded.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from deploy.errors import DeployError

#: A well-formed voter key (32 zero bytes, base64url): status needs one, nobody owns it.
PROBE_VOTER = "A" * 43
#: Answers that may be the edge still settling (a new distribution, a cold function).
TRANSIENT = {502, 503, 504}
USER_AGENT = "topn-vote-deploy-smoke-test/1"


class SmokeTestFailed(DeployError):
    """The deployed site does not work through its public URL; the message says why."""


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def api_json(self) -> dict[str, object] | None:
        """The body if it is the API's own JSON (an object), else None."""
        if not self.content_type.startswith("application/json"):
            return None
        try:
            doc = json.loads(self.body)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None


def fetch(url: str, timeout: float) -> Answer | None:
    """GET ``url``; None when nothing answered (DNS, refused, timeout, TLS)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(
                response.status, response.headers.get("Content-Type", ""), response.read()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers.get("Content-Type", ""), error.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return None


def check(
    site_url: str,
    *,
    page: str,
    asset: str,
    china: bool,
    region: str,
    say: Callable[[str], None] = print,
    attempts: int = 6,
    pause_s: float = 10.0,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Raise ``SmokeTestFailed`` unless the four requests answer as a working site."""
    base = site_url.rstrip("/")
    checks: list[tuple[str, Callable[[Answer], bool]]] = [
        ("/api/health", _health_ok),
        (f"/api/status?voter={PROBE_VOTER}", _status_ok),
        (page, lambda a: a.status == 200 and a.content_type.startswith("text/html")),
        (asset, lambda a: a.status == 200),
    ]
    for path, ok in checks:
        answer: Answer | None = None
        for attempt in range(attempts):
            answer = fetch(base + path, timeout)
            if answer is not None and ok(answer):
                break
            settling = answer is None or answer.status in TRANSIENT
            if not settling or attempt == attempts - 1:
                raise SmokeTestFailed(diagnose(base, path, answer, china=china, region=region))
            sleep(pause_s)
        assert answer is not None
        say(f"  ok  {path.split('?')[0]}  {answer.status}")


def _health_ok(answer: Answer) -> bool:
    return answer.status == 200 and answer.api_json() == {"ok": True}


def _status_ok(answer: Answer) -> bool:
    doc = answer.api_json()
    if doc is None:
        return False
    if answer.status == 200:
        return "state" in doc
    # In device+pow and wechat modes a status request without a credential is refused,
    # in the API's own words: the function answered, which is what is being checked.
    return answer.status in {401, 403} and str(doc.get("error", "")).startswith("credential")


def diagnose(base: str, path: str, answer: Answer | None, *, china: bool, region: str) -> str:
    """What failed and what to do, in the organiser's terms (docs/runbook.md)."""
    where = f"GET {base}{path}"
    if answer is None:
        return (
            f"Smoke test: nothing answered {where}. If the site uses your own domain, check "
            "its CNAME points at the stack output DistributionDomainName (DNS can take a "
            "while to spread); then run deploy again."
        )
    api = path.startswith("/api/")
    doc = answer.api_json()
    said = f"{where} answered {answer.status}"
    if api and answer.status == 403 and doc is None:
        if china:
            return (
                f"Smoke test: {said} without the API's JSON. In AWS China, API Gateway "
                "refuses every call with 403 until the account's API Gateway is "
                f"whitelisted under your ICP filing for this region ({region}). Ask AWS "
                "China support for the API Gateway ICP whitelist (docs/runbook.md, 'China "
                "prerequisites'); a whitelist in another region does not count. If it is "
                "already whitelisted, the regional WAF refused CloudFront's origin header: "
                "run deploy again so both carry the same /<stack>/origin-verify value."
            )
        return (
            f"Smoke test: {said} without the API's JSON: CloudFront or the WAF refused it "
            "before the function. Usually the Function URL rejected CloudFront's signature "
            "(origin access control): check the stack's CloudFrontInvokesUrl permission, "
            "or the WAF blocked this machine's address. docs/runbook.md, 'Smoke test'."
        )
    if api and answer.status == 503 and doc is not None:
        return (
            f"Smoke test: {said} 'unavailable': the function runs but cannot load its "
            "configuration or reach DynamoDB. Read the function's log group (the "
            "ConfigErrorAlarm line names a missing SSM parameter), fix it, run deploy again."
        )
    if api and doc is not None:
        return (
            f"Smoke test: {said} with {doc.get('error', doc)!r}: the function answered, but "
            "not as a working campaign. Check content/campaign.yaml and redeploy."
        )
    if api:
        return (
            f"Smoke test: {said}, not the API's JSON: CloudFront did not reach the function "
            "(the /api/* behaviour, or the function failed to start: see its log group)."
        )
    return (
        f"Smoke test: {said}. The site's files are missing or not readable by CloudFront: "
        "run deploy again with --force-upload, and check the SiteBucket policy."
    )
