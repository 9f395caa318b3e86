"""AWS WAF web ACL rules, evaluated as WAF does, for the statements our templates use.

Rules run by priority; the first terminating action (Allow, Block) decides, Count goes
on, and the default action decides the rest. Rate-based rules count requests per
aggregate key over their evaluation window. A statement type this emulator does not know
raises ``Unsupported`` so the edge tests fail rather than silently allow.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from tests.cloud.cfn import Unsupported

CONTENT_TYPES = {
    "APPLICATION_JSON": "application/json",
    "TEXT_PLAIN": "text/plain",
    "TEXT_HTML": "text/html",
}


@dataclass(frozen=True)
class WafRequest:
    source_ip: str  # the address WAF sees: the viewer (CLOUDFRONT scope) or CloudFront
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names


@dataclass(frozen=True)
class Block:
    status: int
    headers: dict[str, str]
    body: bytes
    rule: str


class WebAcl:
    """One web ACL's rules; ``check`` answers ``None`` (let through) or a ``Block``."""

    def __init__(self, acl: dict[str, Any], *, default_block: Block) -> None:
        self.acl = acl
        self.rules = sorted(acl.get("Rules", []), key=lambda r: int(r["Priority"]))
        self.bodies = acl.get("CustomResponseBodies", {})
        self.default_block = default_block
        self.windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def check(self, request: WafRequest, now: float | None = None) -> Block | None:
        at = time.monotonic() if now is None else now
        for rule in self.rules:
            if not self._matches(rule["Name"], rule["Statement"], request, at):
                continue
            action = rule.get("Action", {})
            if "Allow" in action:
                return None
            if "Block" in action:
                return self._block(rule["Name"], action["Block"])
            if not {"Count"} >= set(action):
                raise Unsupported(f"WAF action {sorted(action)} is not emulated")
        if "Allow" in self.acl["DefaultAction"]:
            return None
        return self._block("default", self.acl["DefaultAction"]["Block"])

    def _block(self, rule: str, spec: dict[str, Any]) -> Block:
        custom = spec.get("CustomResponse")
        if not custom:
            return Block(self.default_block.status, dict(self.default_block.headers),
                         self.default_block.body, rule)  # fmt: skip
        headers = {h["Name"]: h["Value"] for h in custom.get("ResponseHeaders", [])}
        body = b""
        if "CustomResponseBodyKey" in custom:
            stored = self.bodies[custom["CustomResponseBodyKey"]]
            headers["Content-Type"] = CONTENT_TYPES[stored["ContentType"]]
            body = stored["Content"].encode("utf-8")
        return Block(int(custom["ResponseCode"]), headers, body, rule)

    # -- statements ----------------------------------------------------------------------

    def _matches(
        self, rule: str, statement: dict[str, Any], request: WafRequest, at: float
    ) -> bool:
        ((kind, spec),) = statement.items()
        if kind == "ByteMatchStatement":
            return _byte_match(spec, request)
        if kind == "NotStatement":
            return not self._matches(rule, spec["Statement"], request, at)
        if kind == "AndStatement":
            return all(self._matches(rule, s, request, at) for s in spec["Statements"])
        if kind == "OrStatement":
            return any(self._matches(rule, s, request, at) for s in spec["Statements"])
        if kind == "RateBasedStatement":
            return self._rate(rule, spec, request, at)
        raise Unsupported(f"WAF statement {kind} is not emulated")

    def _rate(self, rule: str, spec: dict[str, Any], request: WafRequest, at: float) -> bool:
        scope = spec.get("ScopeDownStatement")
        if scope is not None and not self._matches(rule, scope, request, at):
            return False
        key = _aggregate_key(spec, request)
        if key is None:  # no valid forwarded address: the configured fallback decides
            return bool(spec["ForwardedIPConfig"]["FallbackBehavior"] == "MATCH")
        window = float(spec.get("EvaluationWindowSec", 300))
        with self.lock:
            seen = self.windows[(rule, key)]
            seen.append(at)
            while seen and seen[0] <= at - window:
                seen.popleft()
            return len(seen) > int(spec["Limit"])


def _aggregate_key(spec: dict[str, Any], request: WafRequest) -> str | None:
    kind = spec.get("AggregateKeyType", "IP")
    if kind == "IP":
        return request.source_ip
    if kind == "FORWARDED_IP":
        config = spec["ForwardedIPConfig"]
        value = request.headers.get(config["HeaderName"].lower(), "")
        first = value.split(",")[0].strip()  # WAF uses the first address of the header
        try:
            return str(ipaddress.ip_address(first))
        except ValueError:
            return None
    raise Unsupported(f"rate-based AggregateKeyType {kind} is not emulated")


def _byte_match(spec: dict[str, Any], request: WafRequest) -> bool:
    field = spec["FieldToMatch"]
    if "UriPath" in field:
        value: str | None = request.path
    elif "SingleHeader" in field:
        value = request.headers.get(field["SingleHeader"]["Name"].lower())
    elif "QueryString" in field:
        value = request.query
    elif "Method" in field:
        value = request.method
    else:
        raise Unsupported(f"WAF FieldToMatch {sorted(field)} is not emulated")
    if value is None:
        return False
    for transform in sorted(spec.get("TextTransformations", []), key=lambda t: t["Priority"]):
        if transform["Type"] == "LOWERCASE":
            value = value.lower()
        elif transform["Type"] != "NONE":
            raise Unsupported(f"WAF text transformation {transform['Type']} is not emulated")
    wanted = str(spec["SearchString"])
    constraint = spec["PositionalConstraint"]
    if constraint == "EXACTLY":
        return value == wanted
    if constraint == "STARTS_WITH":
        return value.startswith(wanted)
    if constraint == "ENDS_WITH":
        return value.endswith(wanted)
    if constraint == "CONTAINS":
        return wanted in value
    raise Unsupported(f"WAF positional constraint {constraint} is not emulated")
