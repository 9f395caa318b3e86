"""The deployed stack on one machine: CloudFront, its origins and WAF, read from infra/.

``Edge`` serves the built site and the API the way a stack made from ``infra/stack.yaml``
(global: S3 with origin access control, a Lambda Function URL signed by origin access
control, the us-east-1 web ACL of ``infra/waf.yaml``) or ``infra/stack-cn.yaml`` (AWS
China: S3 with an origin access identity, a regional REST API behind a secret origin
header and a regional web ACL) would. Every decision below is taken from the resolved
template, not restated here: cache behaviours and their path patterns and methods, the
origin request policy's header, cookie and query-string lists, origin custom headers and
paths, custom error responses, the response headers policy, origin access control, the
API Gateway resource tree and stage, and the WAF rules. Behind it, ``FunctionProcess``
runs the function from the zip ``build.py deploy`` builds. See tests/cloud/README.md.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from deploy.sync import local_files
from tests.cloud.cfn import Template, Unsupported
from tests.cloud.waf import Block, WafRequest, WebAcl

#: The address CloudFront's origin-facing servers call from (what an origin sees as peer).
EDGE_IP = "130.176.91.12"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Managed policies the global template names by id (their documented contents).
MANAGED_CACHE_POLICIES: dict[str, dict[str, Any]] = {
    "658327ea-f89d-4fab-a63d-7e88639e58f6": {"headers": [], "query": "none"},  # Optimized
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": {"headers": [], "query": "none"},  # Disabled
}
CLOUDFRONT_403 = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD><TITLE>'
    b"ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>403 ERROR</H1>"
    b"<H2>The request could not be satisfied.</H2><HR noshade size=1px>Request blocked."
    b"</BODY></HTML>"
)

#: What China's API Gateway answers before the ICP whitelist: not the API's JSON.
NOT_WHITELISTED = b"<html><body><h1>403 Forbidden</h1><p>Forbidden</p></body></html>"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class ViewerRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    viewer_ip: str
    viewer_port: int

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None


Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class OriginRequest:
    """What CloudFront sends an origin: only what the policies let through."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Edge:
    """One distribution of one template, with its origins and web ACLs.

    ``invoke`` runs the function with an event and returns its result (the function
    process); ``site`` is the built ``dist/`` that deploy would upload.
    """

    template: Template
    site: Path
    invoke: Invoke
    cloudfront_acl: WebAcl | None = None
    #: The address the viewer connects from; loopback tests play one public client.
    viewer_ip: str = "198.51.100.23"
    #: AWS China answers every API Gateway call with 403 until the account's API Gateway
    #: is on the ICP whitelist of its region (docs/runbook.md); tests flip this.
    icp_whitelisted: bool = True
    #: Whether this edge writes CloudFront-Viewer-Address itself when the policy lists
    #: it. Global CloudFront documents it; AWS China's does not, so there the emulation
    #: assumes the worst: the client's own value passes (the function must not trust it).
    sets_viewer_address: bool | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = self.template.resource(self._one("AWS::CloudFront::Distribution"))[
            "DistributionConfig"
        ]
        self.bucket = {f.key: f for f in local_files(self.site)}
        self.origins = {o["Id"]: o for o in self.config["Origins"]}
        self.regional_acl = self._regional_acl()
        if self.sets_viewer_address is None:
            self.sets_viewer_address = self.template.partition == "aws"

    def _one(self, kind: str) -> str:
        found = list(self.template.of_type(kind))
        if len(found) != 1:
            raise Unsupported(f"expected one {kind}, found {found}")
        return found[0]

    def _regional_acl(self) -> WebAcl | None:
        associations = self.template.of_type("AWS::WAFv2::WebACLAssociation")
        if not associations:
            return None
        (association,) = associations.values()
        acl_logical = self.template.logical_of(association["WebACLArn"].rsplit(":", 1)[-1])
        forbidden = Block(403, {"Content-Type": "application/json"},
                          b'{"message":"Forbidden"}', "default")  # fmt: skip
        return WebAcl(self.template.resource(acl_logical), default_block=forbidden)

    # -- the viewer side -------------------------------------------------------------

    def serve(self, request: ViewerRequest) -> Answer:
        behaviour = self.behaviour(request.path)
        if request.method not in behaviour["AllowedMethods"]:
            why = "This distribution is not configured to allow the HTTP request method used."
            return self._cloudfront_error(403, why)
        if self.cloudfront_acl is not None:
            blocked = self.cloudfront_acl.check(
                WafRequest(
                    request.viewer_ip,
                    request.method,
                    request.path,
                    request.query,
                    {k.lower(): v for k, v in request.headers},
                )
            )
            if blocked is not None:
                return self._with_policy(
                    behaviour, Answer(blocked.status, blocked.headers, blocked.body)
                )
        answer = self._from_origin(behaviour, request)
        answer = self._custom_error(answer, request)
        if request.method == "HEAD":
            answer.body = b""
        return self._with_policy(behaviour, answer)

    def behaviour(self, path: str) -> dict[str, Any]:
        """The first cache behaviour whose pattern matches (CloudFront's order), or the default."""
        for behaviour in self.config.get("CacheBehaviors", []):
            pattern = behaviour["PathPattern"]
            if fnmatch.fnmatchcase(path, pattern if pattern.startswith("/") else "/" + pattern):
                return dict(behaviour)
        return dict(self.config["DefaultCacheBehavior"])

    def _from_origin(self, behaviour: dict[str, Any], request: ViewerRequest) -> Answer:
        origin = self.origins[behaviour["TargetOriginId"]]
        forwarded = self._origin_request(behaviour, origin, request)
        if "S3OriginConfig" in origin:
            return self._s3(forwarded)
        host = origin["DomainName"]
        if ".lambda-url." in host:
            return self._function_url(origin, forwarded)
        if ".execute-api." in host:
            return self._api_gateway(host, forwarded)
        raise Unsupported(f"origin {host} is not emulated")

    def _origin_request(
        self, behaviour: dict[str, Any], origin: dict[str, Any], request: ViewerRequest
    ) -> OriginRequest:
        """The request CloudFront forwards: cache policy + origin request policy lists only."""
        cache = self._cache_policy(behaviour)
        policy = self._origin_request_policy(behaviour)
        allowed = {h.lower() for h in cache["headers"] + policy["headers"]}
        headers: dict[str, str] = {}
        for name, _ in request.headers:
            low = name.lower()
            if low in allowed and not low.startswith("cloudfront-") and low != "authorization":
                headers[low] = request.header(name) or ""
        authorization = request.header("authorization")
        # An origin request policy cannot forward Authorization; CloudFront forwards it
        # on GET/HEAD only when the cache policy puts it in the cache key.
        if authorization is not None and (
            request.method not in ("GET", "HEAD") or "authorization" in cache["headers"]
        ):
            headers["authorization"] = authorization
        # Headers CloudFront itself adds, when listed: never the viewer's own value.
        if "cloudfront-viewer-address" in allowed:
            own = request.header("cloudfront-viewer-address")
            if self.sets_viewer_address:
                headers["cloudfront-viewer-address"] = f"{request.viewer_ip}:{request.viewer_port}"
            elif own is not None:
                headers["cloudfront-viewer-address"] = own
        if "cloudfront-is-mobile-viewer" in allowed:
            headers["cloudfront-is-mobile-viewer"] = "true"
        client_xff = request.header("x-forwarded-for")
        headers["x-forwarded-for"] = (
            f"{client_xff}, {request.viewer_ip}" if client_xff else request.viewer_ip
        )
        headers["via"] = "2.0 emulated.cloudfront.net (CloudFront)"
        headers["x-amz-cf-id"] = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()
        headers["host"] = origin["DomainName"]
        for custom in origin.get("OriginCustomHeaders", []):
            headers[custom["HeaderName"].lower()] = custom["HeaderValue"]
        query_mode = policy["query"] if policy["query"] != "none" else cache["query"]
        query = request.query if query_mode in ("all", "allExcept") else ""
        if query_mode == "whitelist":
            keep = set(policy["query_names"])
            query = "&".join(p for p in request.query.split("&") if p.split("=")[0] in keep)
        path = origin.get("OriginPath", "") + request.path
        return OriginRequest(request.method, path, query, headers, request.body)

    def _cache_policy(self, behaviour: dict[str, Any]) -> dict[str, Any]:
        ref = behaviour["CachePolicyId"]
        if ref in MANAGED_CACHE_POLICIES:
            return MANAGED_CACHE_POLICIES[ref]
        config = self.template.resource(self.template.logical_of(ref))["CachePolicyConfig"]
        params = config["ParametersInCacheKeyAndForwardedToOrigin"]
        return {
            "headers": list(params["HeadersConfig"].get("Headers", [])),
            "query": params["QueryStringsConfig"]["QueryStringBehavior"],
        }

    def _origin_request_policy(self, behaviour: dict[str, Any]) -> dict[str, Any]:
        ref = behaviour.get("OriginRequestPolicyId")
        if ref is None:
            return {"headers": [], "query": "none", "query_names": []}
        config = self.template.resource(self.template.logical_of(ref))["OriginRequestPolicyConfig"]
        headers = config["HeadersConfig"]
        if headers["HeaderBehavior"] not in ("none", "whitelist"):
            raise Unsupported(f"HeaderBehavior {headers['HeaderBehavior']} is not emulated")
        if config["CookiesConfig"]["CookieBehavior"] != "none":
            raise Unsupported("forwarded cookies are not emulated")
        queries = config["QueryStringsConfig"]
        return {
            "headers": list(headers.get("Headers", [])),
            "query": queries["QueryStringBehavior"],
            "query_names": list(queries.get("QueryStrings", [])),
        }

    # -- the site bucket -------------------------------------------------------------------

    def _s3(self, request: OriginRequest) -> Answer:
        key = request.path.lstrip("/") or self.config.get("DefaultRootObject", "")
        found = self.bucket.get(key)
        if found is None:
            code, status = ("NoSuchKey", 404) if self._bucket_lists() else ("AccessDenied", 403)
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>emulated</Message><Key>{key}</Key></Error>"
            ).encode()
            return Answer(status, {"Content-Type": "application/xml"}, body)
        headers = {"Content-Type": found.content_type, "Cache-Control": found.cache_control,
                   "ETag": f'"{found.md5}"'}  # fmt: skip
        return Answer(200, headers, found.path.read_bytes())

    def _bucket_lists(self) -> bool:
        """Whether the bucket policy lets CloudFront list (S3 then answers 404, not 403)."""
        for props in self.template.of_type("AWS::S3::BucketPolicy").values():
            for statement in props["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                if statement["Effect"] == "Allow" and "s3:ListBucket" in actions:
                    return True
        return False

    # -- the API, global: a Function URL behind origin access control ---------------------

    def _function_url(self, origin: dict[str, Any], request: OriginRequest) -> Answer:
        urls = self.template.of_type("AWS::Lambda::Url")
        (url,) = urls.values()
        if url["AuthType"] == "AWS_IAM":
            refused = self._sigv4_refusal(origin, request)
            if refused is not None:
                return refused
        event = function_url_event(request, self.template.account)
        return self._run(event, gateway="url")

    def _sigv4_refusal(self, origin: dict[str, Any], request: OriginRequest) -> Answer | None:
        """Lambda's IAM check of what origin access control signed, in Lambda's own words."""
        control = origin.get("OriginAccessControlId")
        signs = False
        if control:
            oac = self.template.resource(self.template.logical_of(control))
            config = oac["OriginAccessControlConfig"]
            signs = config["OriginAccessControlOriginType"] == "lambda" and config[
                "SigningBehavior"
            ] in ("always", "no-override")
        if not signs:
            return _lambda_403("AccessDeniedException", {"Message": "Forbidden"})
        # OAC signs with the payload hash the viewer gave (it cannot read the body);
        # with none, SigV4 signs the empty payload. Lambda compares with the real body.
        signed_hash = request.headers.get("x-amz-content-sha256", EMPTY_SHA256)
        now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        request.headers["x-amz-date"] = now
        request.headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=ASIAEMULATEDCLOUDFRONT/{now[:8]}/"
            f"{self.template.region}/lambda/aws4_request, SignedHeaders=host;"
            f"x-amz-content-sha256;x-amz-date, Signature="
            + hmac.new(b"emulated", signed_hash.encode(), hashlib.sha256).hexdigest()
        )
        if signed_hash != hashlib.sha256(request.body).hexdigest():
            return _lambda_403(
                "InvalidSignatureException",
                {"message": "The request signature we calculated does not match the signature "
                 "you provided. Check your AWS Secret Access Key and signing method. Consult "
                 "the service documentation for details."},
            )  # fmt: skip
        return None

    # -- the API, China: a regional REST API behind a secret header and a WAF -------------

    def _api_gateway(self, host: str, request: OriginRequest) -> Answer:
        api_logical = self.template.logical_of(host.split(".", 1)[0])
        if not self.icp_whitelisted:
            return Answer(403, {"Content-Type": "text/html"}, NOT_WHITELISTED)
        # API Gateway appends its caller (CloudFront) to X-Forwarded-For.
        request.headers["x-forwarded-for"] = f"{request.headers['x-forwarded-for']}, {EDGE_IP}"
        request.headers["x-forwarded-proto"] = "https"
        request.headers["x-forwarded-port"] = "443"
        if self.regional_acl is not None:
            blocked = self.regional_acl.check(
                WafRequest(EDGE_IP, request.method, request.path, request.query, request.headers)
            )
            if blocked is not None:
                return Answer(blocked.status, blocked.headers, blocked.body)
        stage_name, _, rest = request.path.lstrip("/").partition("/")
        stages = [s for s in self.template.of_type("AWS::ApiGateway::Stage").values()
                  if self.template.logical_of(s["RestApiId"]) == api_logical]  # fmt: skip
        if stage_name not in {s["StageName"] for s in stages}:
            return _missing_token()
        resource = self._api_resource(api_logical, "/" + rest)
        if resource is None:
            return _missing_token()
        logical_id, resource_path, parameters = resource
        methods = [m for m in self.template.of_type("AWS::ApiGateway::Method").values()
                   if m["ResourceId"] == self.template.ref(logical_id)]  # fmt: skip
        method = next((m for m in methods if m["HttpMethod"] == request.method), None) or next(
            (m for m in methods if m["HttpMethod"] == "ANY"), None
        )
        if method is None:
            return _missing_token()
        if method["Integration"]["Type"] != "AWS_PROXY":
            raise Unsupported("only Lambda proxy integrations are emulated")
        event = rest_api_event(request, "/" + rest, stage_name, resource_path, parameters,
                               self.template.account)  # fmt: skip
        return self._run(event, gateway="rest")

    def _api_resource(self, api_logical: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        """Walk the REST API's resource tree: (resource, its template path, path parameters)."""
        resources = {k: v for k, v in self.template.of_type("AWS::ApiGateway::Resource").items()
                     if self.template.logical_of(v["RestApiId"]) == api_logical}  # fmt: skip
        root = self.template.get_att(api_logical, "RootResourceId")
        parent, template_path, params = root, "", {}
        segments = [s for s in path.split("/") if s]
        current: str | None = None
        while segments:
            children = {k: v for k, v in resources.items() if v["ParentId"] == parent}
            segment = segments[0]
            exact = next((k for k, v in children.items() if v["PathPart"] == segment), None)
            greedy = next((k for k, v in children.items() if v["PathPart"].endswith("+}")), None)
            single = next((k for k, v in children.items()
                           if v["PathPart"].startswith("{") and not v["PathPart"].endswith("+}")),
                          None)  # fmt: skip
            if exact is not None:
                current, segments = exact, segments[1:]
            elif single is not None:
                current, segments = single, segments[1:]
                params[resources[single]["PathPart"].strip("{}")] = segment
            elif greedy is not None:
                current = greedy
                params[resources[greedy]["PathPart"].strip("{}+")] = "/".join(segments)
                segments = []
            else:
                return None
            template_path += "/" + resources[current]["PathPart"]
            parent = self.template.ref(current)
        if current is None:
            return None
        return current, template_path, params

    # -- running the function ----------------------------------------------------------

    def _run(self, event: dict[str, Any], *, gateway: str) -> Answer:
        self.log.append(event)
        outcome = self.invoke(event)
        if not outcome.get("ok"):
            if gateway == "url":
                return Answer(502, {"Content-Type": "text/plain"}, b"Internal Server Error")
            return Answer(502, {"Content-Type": "application/json"},
                          b'{"message": "Internal server error"}')  # fmt: skip
        result = outcome["result"]
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        return Answer(int(result.get("statusCode", 200)), headers, raw)

    # -- what CloudFront does to answers ----------------------------------------------

    def _custom_error(self, answer: Answer, request: ViewerRequest) -> Answer:
        """Distribution-wide custom error responses: they apply to every behaviour."""
        for custom in self.config.get("CustomErrorResponses", []):
            if int(custom["ErrorCode"]) != answer.status or "ResponsePagePath" not in custom:
                continue
            page_path = custom["ResponsePagePath"]
            page = self._from_origin(
                self.behaviour(page_path),
                ViewerRequest("GET", page_path, "", [], b"", request.viewer_ip, 0),
            )
            return Answer(int(custom.get("ResponseCode", answer.status)), page.headers, page.body)
        return answer

    def _with_policy(self, behaviour: dict[str, Any], answer: Answer) -> Answer:
        ref = behaviour.get("ResponseHeadersPolicyId")
        if ref is None:
            return answer
        config = self.template.resource(self.template.logical_of(ref))[
            "ResponseHeadersPolicyConfig"
        ]
        security = config.get("SecurityHeadersConfig", {})
        added: list[tuple[str, str, bool]] = []
        if "ContentSecurityPolicy" in security:
            csp = security["ContentSecurityPolicy"]
            added.append(("Content-Security-Policy", csp["ContentSecurityPolicy"], csp["Override"]))
        if "ContentTypeOptions" in security:
            cto = security["ContentTypeOptions"]
            added.append(("X-Content-Type-Options", "nosniff", cto["Override"]))
        if "FrameOptions" in security:
            frame = security["FrameOptions"]
            added.append(("X-Frame-Options", frame["FrameOption"], frame["Override"]))
        if "ReferrerPolicy" in security:
            referrer = security["ReferrerPolicy"]
            added.append(("Referrer-Policy", referrer["ReferrerPolicy"], referrer["Override"]))
        if "StrictTransportSecurity" in security:
            hsts = security["StrictTransportSecurity"]
            value = f"max-age={hsts['AccessControlMaxAgeSec']}"
            value += "; includeSubDomains" if hsts.get("IncludeSubdomains") else ""
            value += "; preload" if hsts.get("Preload") else ""
            added.append(("Strict-Transport-Security", value, hsts["Override"]))
        for name, value, override in added:
            present = [k for k in answer.headers if k.lower() == name.lower()]
            if present and not override:
                continue
            for key in present:
                del answer.headers[key]
            answer.headers[name] = " ".join(str(value).split())
        return answer

    def _cloudfront_error(self, status: int, why: str) -> Answer:
        body = CLOUDFRONT_403.replace(b"Request blocked.", why.encode())
        return Answer(status, {"Content-Type": "text/html"}, body)


def _lambda_403(kind: str, payload: dict[str, Any]) -> Answer:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": kind}
    return Answer(403, headers, json.dumps(payload).encode())


def _missing_token() -> Answer:
    return Answer(403, {"Content-Type": "application/json", "x-amzn-ErrorType":
                        "MissingAuthenticationTokenException"},
                  b'{"message":"Missing Authentication Token"}')  # fmt: skip


# -- events, as the two front doors build them -------------------------------------------


def _is_text(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media.startswith("text/") or media in {
        "application/json", "application/javascript", "application/xml",
        "application/x-www-form-urlencoded",
    }  # fmt: skip


def function_url_event(request: OriginRequest, account: str) -> dict[str, Any]:
    """A Function URL's payload 2.0 event (its peer is CloudFront, not the viewer)."""
    now = datetime.now(UTC)
    text = not request.body or _is_text(request.headers.get("content-type", ""))
    query = dict(parse_qsl(request.query, keep_blank_values=True))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": urlsplit(request.path).path,
        "rawQueryString": request.query,
        "headers": dict(request.headers),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": request.headers["host"].split(".", 1)[0],
            "authorizer": {"iam": {"accessKey": "ASIAEMULATEDCLOUDFRONT", "accountId": account,
                                   "callerId": "cloudfront", "userArn": None, "userId": None}},
            "domainName": request.headers["host"],
            "domainPrefix": request.headers["host"].split(".", 1)[0],
            "http": {"method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                     "sourceIp": EDGE_IP, "userAgent": request.headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not text,
    }  # fmt: skip
    if query:
        event["queryStringParameters"] = query
    if request.body:
        event["body"] = (
            request.body.decode("utf-8", "replace")
            if text
            else base64.b64encode(request.body).decode()
        )
    return event


def rest_api_event(
    request: OriginRequest, path: str, stage: str, resource: str, params: dict[str, str],
    account: str,
) -> dict[str, Any]:  # fmt: skip
    """An API Gateway REST proxy event, payload 1.0."""
    pairs = parse_qsl(request.query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    headers = {k.title() if not k.startswith("x-") else k: v for k, v in request.headers.items()}
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "emul01",
            "resourcePath": resource,
            "httpMethod": request.method,
            "path": f"/{stage}{path}",
            "accountId": account,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": EDGE_IP, "userAgent": request.headers.get("user-agent")},
            "domainName": request.headers["host"],
            "apiId": request.headers["host"].split(".", 1)[0],
        },
        "body": request.body.decode("utf-8", "replace") if request.body else None,
        "isBase64Encoded": False,
    }


# -- the HTTP listener -------------------------------------------------------------------


class EdgeServer:
    """``Edge`` on a loopback port (the viewer's TLS end, played in plain HTTP)."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = ViewerRequest(
                    self.command, split.path, split.query, list(self.headers.items()), body,
                    outer.edge.viewer_ip, self.client_address[1],
                )  # fmt: skip
                answer = outer.edge.serve(request)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _any

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> EdgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
