"""The security and durability promises (README "Security and privacy"), read from the templates.

Each test parses the CloudFormation YAML (cfn-lint's loader understands the short
``!Ref``/``!Sub`` tags) and checks a promise against both partitions' templates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ballotbox.stores import schema
from cfnlint.decode import cfn_yaml

from localserver.headers import security_headers

INFRA = Path(__file__).resolve().parent.parent / "infra"
STACKS = ["stack.yaml", "stack-cn.yaml"]
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def load(name: str) -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(INFRA / name))
    return template


@pytest.fixture(params=STACKS)
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = resources(template, kind).values()
    props: dict[str, Any] = found["Properties"]
    return props


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement a role can hold, including those present only under a condition."""
    documents = [
        policy["PolicyDocument"]
        for role in resources(template, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ]
    # Policies attached to a role from elsewhere (the WeChat share block's reader).
    documents += [
        p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::IAM::RolePolicy").values()
    ]
    for document in documents:
        if document:
            for statement in document["Statement"]:
                if "Fn::If" in statement:
                    _, when_true, when_false = statement["Fn::If"]
                    assert when_false == {"Ref": "AWS::NoValue"}, statement
                    yield when_true
                else:
                    yield statement


def refers_to(value: Any, logical_id: str) -> bool:
    """True if ``value`` (a Ref, GetAtt, Sub or a list of them) points at ``logical_id``."""
    if isinstance(value, list):
        return any(refers_to(v, logical_id) for v in value)
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            target = target[0] if isinstance(target, list) else target.split(".")[0]
            return bool(target == logical_id)
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            return f"${{{logical_id}" in text
    return False


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


# ---------------------------------------------------------------------- the site bucket


def test_buckets_are_private_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert set(buckets) == {"SiteBucket", "LogBucket"}
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        # Nobody anonymous is ever allowed anything; "*" appears only in the TLS deny.
        assert all(s["Principal"] != "*" for s in statements if s["Effect"] == "Allow")
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_site_bucket_is_versioned_and_logs_to_the_log_bucket(template: dict[str, Any]) -> None:
    site = template["Resources"]["SiteBucket"]["Properties"]
    assert site["VersioningConfiguration"] == {"Status": "Enabled"}
    assert site["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LogBucket"}


# ---------------------------------------------------------------------- IAM


def test_no_wildcard_actions_or_resources(template: dict[str, Any]) -> None:
    for statement in policy_statements(template):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
        for resource in as_list(statement["Resource"]):
            assert resource != "*", statement
            text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else resource
            if text.endswith("/*"):
                # The one pattern: a KMS key, usable only via SSM for our own parameters.
                condition = statement["Condition"]
                assert "kms:ViaService" in condition["StringEquals"]
                context = "kms:EncryptionContext:PARAMETER_ARN"
                if statement["Action"] != "kms:Decrypt":
                    # Only the WeChat ticket refresher writes SecureStrings: its own two.
                    assert statement["Action"] == ["kms:Decrypt", "kms:Encrypt"]
                    arns = condition["ForAnyValue:StringEquals"][context]
                    assert refers_to(arns[0], "WeChatSecretParameterName")
                    assert all("/wechat/" in arn["Fn::Sub"] for arn in arns[1:])
                elif "ForAnyValue:StringEquals" in condition:
                    assert len(condition["ForAnyValue:StringEquals"][context]) == 2
                elif "/wechat/jsapi-ticket" in str(condition["StringEquals"][context]):
                    # The vote function reads the share ticket (issue 16), nothing else.
                    arn = condition["StringEquals"][context]["Fn::Sub"]
                    assert arn.endswith(":parameter/${AWS::StackName}/wechat/jsapi-ticket")
                else:  # the WeChat AppSecret, in wechat mode only
                    assert refers_to(
                        condition["StringEquals"][context], "WeChatSecretParameterName"
                    )


def test_ledger_is_append_only_for_the_function(template: dict[str, Any]) -> None:
    ledger_actions: set[str] = set()
    for statement in policy_statements(template):
        if refers_to(statement["Resource"], "LedgerTable"):
            ledger_actions |= set(as_list(statement["Action"]))
    assert ledger_actions == {"dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem"}
    forbidden = {"Update", "Delete", "BatchWrite", "PartiQL"}
    assert not [a for a in ledger_actions if any(word in a for word in forbidden)]


def test_caps_and_secrets_are_scoped_exactly(template: dict[str, Any]) -> None:
    caps: set[str] = set()
    ssm: list[Any] = []
    for statement in policy_statements(template):
        if refers_to(statement["Resource"], "CapsTable"):
            caps |= set(as_list(statement["Action"]))
        if statement["Action"] == "ssm:GetParameters":
            ssm += as_list(statement["Resource"])
    assert caps == {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"}
    assert len(ssm) == 3
    assert refers_to(ssm[0], "ReceiptKeyParameterName")
    assert refers_to(ssm[1], "HashKeyParameterName")
    # Only when the stack is given one (identity mode wechat).
    assert refers_to(ssm[2], "WeChatSecretParameterName")
    wechat = next(s for s in policy_statements(template) if s.get("Sid") == "ReadTheWeChatSecret")
    conditional = [
        s for s in template["Resources"]["FunctionRole"]["Properties"]["Policies"][0][
            "PolicyDocument"]["Statement"] if "Fn::If" in s
    ]  # fmt: skip
    assert [s["Fn::If"][0] for s in conditional] == ["HasWeChatSecret"] * 2
    assert wechat["Action"] == "ssm:GetParameters"


def test_arns_are_partition_aware(template: dict[str, Any]) -> None:
    literal = [s for s in strings(template["Resources"]) if "arn:aws:" in s]
    assert literal == []


# ---------------------------------------------------------------------- the tables


def test_tables_are_on_demand_recoverable_protected_and_retained(
    template: dict[str, Any],
) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"LedgerTable", "CapsTable"}
    for table in tables.values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["DeletionProtectionEnabled"] is True


def test_ttl_only_on_the_caps(template: dict[str, Any]) -> None:
    tables = template["Resources"]
    assert "TimeToLiveSpecification" not in tables["LedgerTable"]["Properties"]
    assert tables["CapsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": schema.CAPS_TTL,
        "Enabled": True,
    }


def test_table_keys_are_the_ones_the_function_uses(template: dict[str, Any]) -> None:
    ledger = template["Resources"]["LedgerTable"]["Properties"]
    caps = template["Resources"]["CapsTable"]["Properties"]
    assert ledger["KeySchema"] == schema.LEDGER_KEY_SCHEMA
    assert ledger["AttributeDefinitions"] == schema.LEDGER_ATTRIBUTES
    assert caps["KeySchema"] == schema.CAPS_KEY_SCHEMA
    assert caps["AttributeDefinitions"] == schema.CAPS_ATTRIBUTES


# ---------------------------------------------------------------------- the function


def test_function_runtime_concurrency_and_environment(template: dict[str, Any]) -> None:
    function = template["Resources"]["VoteFunction"]["Properties"]
    assert function["Runtime"] in {"python3.12", "python3.13"}
    assert function["Architectures"] == ["arm64"]
    assert function["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert template["Parameters"]["ReservedConcurrency"]["Type"] == "Number"
    env = function["Environment"]["Variables"]
    assert env["STORE"] == "dynamodb"
    assert env["LEDGER_TABLE"] == {"Ref": "LedgerTable"}
    assert env["CAPS_TABLE"] == {"Ref": "CapsTable"}
    # The version deploy pins (an SSM selector), or the latest when none is given.
    assert env["RECEIPT_KEY_PARAM"] == {
        "Fn::If": [
            "HasReceiptKeyVersion",
            {"Fn::Sub": "${ReceiptKeyParameterName}:${ReceiptKeyVersion}"},
            {"Ref": "ReceiptKeyParameterName"},
        ]
    }
    assert env["HASH_KEY_PARAM"] == {"Ref": "HashKeyParameterName"}
    assert env["CAMPAIGN_FILE"] == "campaign.json"


def test_the_shared_core_is_identical_in_both_partitions() -> None:
    """Buckets, tables, role, function and alarms must not drift between templates."""
    shared = [
        "LogBucket",
        "SiteBucket",
        "LedgerTable",
        "CapsTable",
        "FunctionLogGroup",
        "FunctionRole",
        "VoteFunction",
        "SecurityHeadersPolicy",
        "RefusalSpikeAlarm",
        "ConfigErrorAlarm",
        "FunctionThrottleAlarm",
        "LedgerThrottleAlarm",
    ]
    world, china = load("stack.yaml")["Resources"], load("stack-cn.yaml")["Resources"]
    # The one intended difference: in China the viewer's address comes from
    # X-Forwarded-For behind two trusted proxies (CloudFront, then API Gateway).
    china_env = china["VoteFunction"]["Properties"]["Environment"]["Variables"]
    assert china_env.pop("TRUSTED_PROXY_HOPS") == "2"
    world_env = world["VoteFunction"]["Properties"]["Environment"]["Variables"]
    assert "TRUSTED_PROXY_HOPS" not in world_env
    # And globally from CloudFront-Viewer-Address, which only the global edge sets.
    assert world_env.pop("VIEWER_ADDRESS_HEADER") == "CloudFront-Viewer-Address"
    for name in shared:
        assert world[name] == china[name], name


# ---------------------------------------------------------------------- the edge


def policy_headers(config: dict[str, Any]) -> dict[str, str]:
    """The headers a CloudFront response headers policy adds, as name -> value."""
    security = config["SecurityHeadersConfig"]
    headers = {
        "Content-Security-Policy": security["ContentSecurityPolicy"]["ContentSecurityPolicy"],
        "X-Frame-Options": security["FrameOptions"]["FrameOption"],
        "Referrer-Policy": security["ReferrerPolicy"]["ReferrerPolicy"],
    }
    if "ContentTypeOptions" in security:
        headers["X-Content-Type-Options"] = "nosniff"
    hsts = security["StrictTransportSecurity"]
    value = f"max-age={hsts['AccessControlMaxAgeSec']}"
    value += "; includeSubDomains" if hsts.get("IncludeSubdomains") else ""
    value += "; preload" if hsts.get("Preload") else ""
    headers["Strict-Transport-Security"] = value
    for custom in config.get("CustomHeadersConfig", {}).get("Items", []):
        headers[custom["Header"]] = custom["Value"]
    overrides = [v.get("Override") for v in security.values()]
    assert all(overrides), "every security header must override the origin's"
    return headers


def test_response_headers_are_exactly_the_local_servers(template: dict[str, Any]) -> None:
    config = one(template, "AWS::CloudFront::ResponseHeadersPolicy")["ResponseHeadersPolicyConfig"]
    assert policy_headers(config) == security_headers(https=True)
    csp = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


def test_every_behaviour_sends_the_security_headers(template: dict[str, Any]) -> None:
    distribution = one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    behaviours = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]
    for behaviour in behaviours:
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeadersPolicy"}
        assert behaviour["ViewerProtocolPolicy"] in {"redirect-to-https", "https-only"}


def test_api_behaviour_is_uncached_and_forwards_what_the_function_hashes(
    template: dict[str, Any],
) -> None:
    distribution = one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    (api,) = [b for b in distribution["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    assert "POST" in api["AllowedMethods"]
    cache = api["CachePolicyId"]
    if cache != CACHING_DISABLED:
        policy = template["Resources"][cache["Ref"]]["Properties"]["CachePolicyConfig"]
        assert policy["MaxTTL"] == policy["DefaultTTL"] == policy["MinTTL"] == 0
    forwarded = template["Resources"][api["OriginRequestPolicyId"]["Ref"]]["Properties"][
        "OriginRequestPolicyConfig"
    ]
    assert forwarded["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert forwarded["HeadersConfig"]["Headers"] == [
        "CloudFront-Viewer-Address",
        "Content-Type",
        "User-Agent",
        "X-Proof-Of-Work",
        "X-Vote-Credential",
        "x-amz-content-sha256",
    ]
    assert forwarded["CookiesConfig"] == {"CookieBehavior": "none"}


def rate_rules(web_acl: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in web_acl["Rules"] if "RateBasedStatement" in r["Statement"]]


def assert_api_rate_rule(web_acl: dict[str, Any]) -> None:
    (rule,) = rate_rules(web_acl)
    assert "Block" in rule["Action"]
    scope = rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["ByteMatchStatement"]
    assert scope["FieldToMatch"] == {"UriPath": {}}
    assert (scope["PositionalConstraint"], scope["SearchString"]) == ("STARTS_WITH", "/api/")


def test_global_waf_rate_limits_the_api_and_guards_the_distribution() -> None:
    waf = load("waf.yaml")
    web_acl = one(waf, "AWS::WAFv2::WebACL")
    assert web_acl["Scope"] == "CLOUDFRONT"
    assert_api_rate_rule(web_acl)
    stack = load("stack.yaml")
    distribution = one(stack, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert distribution["WebACLId"] == {"Ref": "WebAclArn"}
    assert "us-east-1" in stack["Parameters"]["WebAclArn"]["AllowedPattern"]


def test_global_api_origin_is_signed_by_origin_access_control() -> None:
    stack = load("stack.yaml")
    url = one(stack, "AWS::Lambda::Url")
    assert url["AuthType"] == "AWS_IAM"
    controls = resources(stack, "AWS::CloudFront::OriginAccessControl")
    kinds = {
        c["Properties"]["OriginAccessControlConfig"]["OriginAccessControlOriginType"]
        for c in controls.values()
    }
    assert kinds == {"s3", "lambda"}
    permissions = [
        p["Properties"]
        for p in resources(stack, "AWS::Lambda::Permission").values()
        if not refers_to(p["Properties"]["FunctionName"], "ShareRefresherFunction")
    ]
    assert permissions
    assert all(p["Principal"] == "cloudfront.amazonaws.com" for p in permissions)
    assert all(refers_to(p["SourceArn"], "Distribution") for p in permissions)


def test_china_api_is_behind_a_regional_waf_that_only_lets_cloudfront_in() -> None:
    stack = load("stack-cn.yaml")
    web_acl = one(stack, "AWS::WAFv2::WebACL")
    assert web_acl["Scope"] == "REGIONAL"
    assert web_acl["DefaultAction"] == {"Block": {}}
    # No rate limit keyed on X-Forwarded-For: its first entry is the client's own word,
    # so FORWARDED_IP would let anyone get someone else's address blocked.
    assert rate_rules(web_acl) == []
    assert "ForwardedIPConfig" not in str(web_acl)
    association = one(stack, "AWS::WAFv2::WebACLAssociation")
    assert refers_to(association["ResourceArn"], "Api")
    assert stack["Parameters"]["OriginVerifySecret"]["NoEcho"] is True
    distribution = one(stack, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert distribution["Aliases"] == [{"Ref": "DomainName"}]
    assert distribution["ViewerCertificate"]["IamCertificateId"] == {"Ref": "IamCertificateId"}


# ---------------------------------------------------------------------- alarms


def test_alarms_cover_refusals_errors_and_throttles(template: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    metrics = {
        (a["Namespace"] if isinstance(a["Namespace"], str) else "EMF", a["MetricName"])
        for a in alarms
    }
    assert ("EMF", "Rejections") in metrics
    assert ("EMF", "ConfigErrors") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/Lambda", "Throttles") in metrics
    assert ("AWS/DynamoDB", "WriteThrottleEvents") in metrics
    assert ("AWS/Lambda", "Url5xxCount") in metrics or ("AWS/ApiGateway", "5XXError") in metrics
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_no_rate_limit_anywhere_is_keyed_on_a_forgeable_address() -> None:
    """The global WAF sits at the edge and sees the viewer itself (IP), never a header."""
    for name in ("waf.yaml", "stack.yaml", "stack-cn.yaml"):
        for web_acl in resources(load(name), "AWS::WAFv2::WebACL").values():
            for rule in rate_rules(web_acl["Properties"]):
                assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
                assert web_acl["Properties"]["Scope"] == "CLOUDFRONT"


def test_the_refusal_alarm_ignores_a_capped_evening(template: dict[str, Any]) -> None:
    import vote_handler

    alarm = resources(template, "AWS::CloudWatch::Alarm")["RefusalSpikeAlarm"]["Properties"]
    assert alarm["MetricName"] == "Rejections"
    assert alarm["DatapointsToAlarm"] == 2
    # The function leaves exactly the refusals a normal evening makes out of that series.
    assert {"daily_limit_reached", "network_limited"} == vote_handler.ROUTINE_REFUSALS
    config = resources(template, "AWS::CloudWatch::Alarm")["ConfigErrorAlarm"]["Properties"]
    assert (config["MetricName"], config["Threshold"]) == ("ConfigErrors", 0)


def test_a_failed_first_create_can_be_retried(template: dict[str, Any]) -> None:
    """A named resource retained by a failed create would make every retry collide."""
    for logical, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        named = any(key.endswith("Name") and key != "DomainName" for key in properties)
        if named and resource.get("DeletionPolicy") == "Retain":
            pytest.fail(f"{logical} is named and Retain: use RetainExceptOnCreate")
    assert template["Resources"]["FunctionLogGroup"]["DeletionPolicy"] == "RetainExceptOnCreate"


def test_cloudfront_names_include_the_region(template: dict[str, Any]) -> None:
    """CloudFront policy and OAC names are account-wide: two regions' stacks must not clash."""
    kinds = (
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::OriginRequestPolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudFront::CachePolicy",
    )
    checked = 0
    for kind in kinds:
        for resource in resources(template, kind).values():
            config = next(iter(resource["Properties"].values()))
            assert "${AWS::Region}" in config["Name"]["Fn::Sub"], config["Name"]
            checked += 1
    assert checked >= 3


def test_cloudfront_may_invoke_the_function_only_through_its_url() -> None:
    stack = load("stack.yaml")
    permissions = resources(stack, "AWS::Lambda::Permission").values()
    invoke = [
        p["Properties"]
        for p in permissions
        if p["Properties"]["Action"] == "lambda:InvokeFunction"
        # The WeChat ticket refresher is invoked by its schedule (checked below).
        and not refers_to(p["Properties"]["FunctionName"], "ShareRefresherFunction")
    ]
    assert invoke
    assert all(p.get("InvokedViaFunctionUrl") is True for p in invoke)


# ---------------------------------------------------------------------- WeChat share block


def test_wechat_share_block_is_optional_identical_in_both_partitions_and_single() -> None:
    """Issue 16: one refresher (concurrency 1) in a VPC with a fixed egress IP, only on demand."""
    world, china = load("stack.yaml"), load("stack-cn.yaml")
    share = {n: r for n, r in world["Resources"].items() if n.startswith("Share")}
    assert share == {n: r for n, r in china["Resources"].items() if n.startswith("Share")}
    assert all(r["Condition"] == "HasWeChatShare" for r in share.values())
    kinds = {r["Type"] for r in share.values()}
    assert {"AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::Events::Rule"} <= kinds
    function = share["ShareRefresherFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Handler"] == "wechat_refresher.handler"
    assert refers_to(function["VpcConfig"]["SubnetIds"], "SharePrivateSubnet")
    nat = share["ShareNatGateway"]["Properties"]
    assert refers_to(nat["AllocationId"], "ShareEgressAddress")
    assert refers_to(nat["SubnetId"], "SharePublicSubnet")
    permission = share["ShareScheduleInvokesRefresher"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert refers_to(permission["SourceArn"], "ShareRefresherSchedule")
    assert world["Outputs"]["ShareEgressIp"]["Condition"] == "HasWeChatShare"
    env = world["Resources"]["VoteFunction"]["Properties"]["Environment"]["Variables"]
    assert env["WECHAT_TICKET_PARAM"]["Fn::If"][0] == "HasWeChatShare"
    # The vote function may read the ticket, never the refresher's state (access_token).
    reader = share["ShareTicketReader"]["Properties"]
    assert reader["RoleName"] == {"Ref": "FunctionRole"}
    assert "ticket-state" not in str(reader["PolicyDocument"])
