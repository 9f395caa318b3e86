"""``python build.py deploy``: the organiser's one command to put the campaign online.

First a plan (``deploy.plan``), from read-only looks at the account: the secrets to
create (never overwriting one), the site built with the receipt key's public half, the
function packaged, the artifacts to upload, (global only) the WAF stack in us-east-1,
the main stack, the changed files of ``dist/`` in phases, the invalidation, and a smoke
test through the public URL. Then ``--dry-run`` hands the plan to an executor that only
shows it (change sets included), and a real run to one that carries it out, asking
before each change set.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from botocore.exceptions import ClientError

from deploy import aws, package, secrets, smoke, stack, sync
from deploy.errors import DeployError
from deploy.plan import (
    Announce,
    ApplyStack,
    CreateArtifactsBucket,
    CreateSecret,
    DeleteFailedStack,
    DisplayExecutor,
    Executor,
    Invalidate,
    Output,
    Plan,
    SmokeTest,
    UploadCode,
    UploadFiles,
    Value,
    WaitForDeletion,
)

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "deploy"


class SiteBuilder(Protocol):
    def __call__(self, out_dir: Path, *, receipt_key: str, results: Path | None) -> object: ...


def _lead_site_builder(out_dir: Path, *, receipt_key: str, results: Path | None) -> object:
    """The site builder (``sitegen.build.build_site``), imported only when used."""
    from sitegen.build import build_site

    return build_site(out_dir, receipt_key=receipt_key, results=results)


@dataclass
class Deps:
    """Everything deploy touches outside AWS, injectable so tests stay offline."""

    connect: Callable[[str, str | None], aws.Target] = aws.connect
    build_site: SiteBuilder = _lead_site_builder
    fetch_wheels: package.WheelFetcher = field(default_factory=package.pip_download)
    confirm: Callable[[str], bool] = lambda question: (
        input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}
    )
    say: Callable[[str], None] = print
    sleep: Callable[[float], None] | None = None  # None: real time.sleep
    cache_dir: Path = CACHE  # downloaded wheels and the built zip
    #: (unreserved account concurrency, this function's current reservation)
    concurrency: Callable[[aws.Target, str], tuple[int, int]] = lambda target, name: (
        account_concurrency(target, name)
    )
    smoke_test: Callable[..., None] = smoke.check


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build.py deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stack", required=True, help="stack name, e.g. cqast-vote")
    p.add_argument("--region", required=True, help="e.g. ap-southeast-1 or cn-northwest-1")
    p.add_argument("--profile", help="AWS CLI profile (default: the environment's)")
    p.add_argument("--yes", action="store_true", help="execute change sets without asking")
    p.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    p.add_argument("--results", type=Path, help="publish this results.json on the site")
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="site folder (dist/)")
    p.add_argument("--domain", default="", help="alternate domain name (required in AWS China)")
    p.add_argument("--certificate-arn", default="", help="ACM certificate in us-east-1 (global)")
    p.add_argument("--iam-certificate-id", default="", help="IAM server certificate (China)")
    p.add_argument("--alarm-email", default="", help="address that receives the alarms")
    p.add_argument("--reserved-concurrency", type=int, help="function concurrency ceiling")
    p.add_argument("--memory", type=int, help="function memory in MB (measure first)")
    p.add_argument(
        "--force-upload", action="store_true", help="re-upload every file (e.g. new headers)"
    )
    p.add_argument(
        "--wechat-secret-param",
        default="",
        help="identity mode wechat: SSM SecureString holding the Official Account's AppSecret",
    )
    p.add_argument(
        "--pow-difficulty",
        default="",
        help="identity mode device+pow: override the difficulty (1-32) without a site rebuild",
    )
    p.add_argument(
        "--wechat-share-refresher",
        action="store_true",
        help="WeChat share cards: deploy the jsapi_ticket refresher with a fixed egress IP "
        "(a NAT gateway, billed hourly; needs --wechat-secret-param)",
    )
    return p


def main(argv: list[str], deps: Deps | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return Deployment(args, deps or Deps()).run()
    except DeployError as error:
        print(f"\ndeploy failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndeploy interrupted; run it again to finish.", file=sys.stderr)
        return 130


#: Lambda keeps this much of the account's concurrency unreserved, always.
MIN_UNRESERVED = 100


def account_concurrency(target: aws.Target, function_name: str) -> tuple[int, int]:
    """(the account's unreserved concurrency, what ``function_name`` reserves now)."""
    client = target.client("lambda")
    unreserved = int(
        client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    )
    try:
        current = client.get_function_concurrency(FunctionName=function_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        return unreserved, 0
    return unreserved, int(current.get("ReservedConcurrentExecutions", 0))


def check_concurrency(requested: int, unreserved: int, current: int) -> None:
    """Refuse before CloudFormation does, with what to do instead.

    Reserving takes from the account's unreserved pool, which must keep
    ``MIN_UNRESERVED``; a new account's quota (often 10 in total) cannot reserve any.
    """
    available = unreserved + current - MIN_UNRESERVED
    if requested > available:
        raise DeployError(
            f"The function would reserve {requested} concurrent executions, but this "
            f"account can reserve at most {max(available, 0)} (unreserved {unreserved}, "
            f"of which Lambda keeps {MIN_UNRESERVED}). Ask for more in Service Quotas "
            "(AWS Lambda, 'Concurrent executions'; China: a support case) before the "
            f"campaign, or pass --reserved-concurrency {max(available, 1)} for a trial."
        )


def template_default(template: Path, parameter: str) -> str:
    """A parameter's default, read with PyYAML (cfn-lint is only a dev dependency)."""
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe, and blind to CloudFormation's short tags (``!Ref``...), not needed here."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    doc = yaml.load(template.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506
    return str(doc["Parameters"][parameter]["Default"])


def is_page(change: sync.Change) -> bool:
    """Pages and campaign.json go after the assets they name (upload phase 2)."""
    key = change.file.key
    return key.endswith((".html", "/")) or key == "campaign.json"


class Deployment:
    """Looks at the account (read-only), writes the plan, hands it to an executor."""

    def __init__(self, args: argparse.Namespace, deps: Deps) -> None:
        self.args = args
        self.deps = deps
        self.say = deps.say

    def run(self) -> int:
        args = self.args
        target = self.deps.connect(args.region, args.profile)
        dry = " (dry run: nothing will change)" if args.dry_run else ""
        self.say(f"Account {target.account}, {target.region} ({target.partition}){dry}")
        if target.china and not (args.domain and args.iam_certificate_id):
            raise DeployError(
                "AWS China needs --domain (an ICP-filed domain) and --iam-certificate-id "
                "(its certificate uploaded to IAM): see docs/runbook.md, 'China'."
            )
        plan = self.make_plan(target)
        if args.dry_run:
            DisplayExecutor(target, self.say).execute(plan)
            return 0
        executor = Executor(
            target,
            say=self.say,
            confirm=self.deps.confirm,
            yes=args.yes,
            smoke_test=self.deps.smoke_test,
            **({"sleep": self.deps.sleep} if self.deps.sleep is not None else {}),
        )
        return 0 if executor.execute(plan) else 1

    # -- the plan -----------------------------------------------------------------------

    def make_plan(self, target: aws.Target) -> Plan:
        args = self.args
        plan = Plan()
        names = secrets.SecretNames.for_stack(args.stack, china=target.china)
        ssm = target.client("ssm")
        values: dict[str, str] = {}
        receipt_version = "1"  # what a secret created now will be
        for name in names.all():
            found = secrets.read_with_version(ssm, name)
            if found is None:
                # Made here so the site is built with it; put (never over another) first.
                value = secrets.new_secret()
                plan.add(CreateSecret(name, value))
            else:
                value, version = found
                if name == names.receipt_key:
                    receipt_version = str(version)
                self.say(f"Secret {name}: exists, kept (never overwritten)")
            values[name] = value
        receipt_public = self.receipt_public_key(values[names.receipt_key])

        self.say(f"Building the site into {args.out} ...")
        self.deps.build_site(args.out, receipt_key=receipt_public, results=args.results)
        campaign = json.loads((args.out / "campaign.json").read_text(encoding="utf-8"))

        template = stack.INFRA / ("stack-cn.yaml" if target.china else "stack.yaml")
        zipped = self.package_function(args.out / "campaign.json", template)
        code_bucket = f"{args.stack}-artifacts-{target.account}-{target.region}".lower()[:63]
        self.plan_code(plan, target, code_bucket, zipped)

        cfn = target.client("cloudformation")
        status = stack.stack_status(cfn, args.stack)
        if status == "ROLLBACK_COMPLETE":
            plan.add(DeleteFailedStack(args.stack, target.region))
        elif status == "DELETE_IN_PROGRESS":
            plan.add(WaitForDeletion(args.stack, target.region))
        exists = status is not None and status not in stack.GONE_OR_GOING | {"ROLLBACK_COMPLETE"}

        requested = args.reserved_concurrency
        if requested is None:
            requested = int(template_default(template, "ReservedConcurrency"))
        check_concurrency(requested, *self.deps.concurrency(target, f"{args.stack}-vote"))

        parameters = self.parameters(plan, target, names, values, code_bucket, zipped)
        # The function signs with the receipt key version the live pages can verify: a
        # rotated key waits (pinned to the deployed version) until phase 2 is online.
        deployed = stack.parameters(cfn, args.stack).get("ReceiptKeyVersion", "") if exists else ""
        rotating = deployed not in ("", receipt_version)
        parameters["ReceiptKeyVersion"] = deployed if rotating else receipt_version
        plan.add(ApplyStack(args.stack, target.region, template, parameters, version=zipped.sha256))

        def output(key: str, stand_in: str) -> Value:
            if exists:
                return stack.outputs(cfn, args.stack, required=(key,))[key]
            return Output(args.stack, key, target.region, stand_in)

        bucket = output("SiteBucketName", "<site bucket, once created>")
        distribution = output("DistributionId", "<distribution, once created>")
        site_url = output("SiteUrl", "<site URL, once created>")
        files = sync.local_files(args.out)
        remote = sync.remote_etags(target.client("s3"), bucket) if isinstance(bucket, str) else {}
        changes = sync.plan(files, remote, force=args.force_upload)
        self.say(f"Site files: {len(changes)} to upload, {len(files) - len(changes)} unchanged")
        # Phase 1, assets: new fingerprinted names, so no page can name one before it exists.
        plan.add(UploadFiles("assets", bucket, [c for c in changes if not is_page(c)]))
        # Phase 2, pages and campaign.json: they name the assets and carry the receipt key.
        plan.add(UploadFiles("pages and campaign.json", bucket, [c for c in changes if is_page(c)]))
        paths = sync.invalidation_paths(changes)
        if paths:
            plan.add(Invalidate(distribution, paths))
        if rotating:
            # Phase 3: the pages (invalidated above) carry the new public key; now sign with it.
            plan.add(
                ApplyStack(
                    args.stack,
                    target.region,
                    template,
                    parameters | {"ReceiptKeyVersion": receipt_version},
                    version=zipped.sha256,
                    why=f"The receipt key is now version {receipt_version} (was {deployed}): "
                    "the pages carry its public half, so the function switches to it.",
                )
            )
        assets = sorted(f.key for f in files if sync.cache_control(f.key) == sync.LONG_CACHE)
        plan.add(
            SmokeTest(
                site_url,
                page=_path_of(campaign["vote_url"]["zh"]),
                asset="/" + (assets[0] if assets else "campaign.json"),
                china=target.china,
                region=target.region,
            )
        )
        plan.add(Announce("Site", site_url))
        plan.add(Announce("QR target", campaign["vote_url"]["zh"]))
        return plan

    @staticmethod
    def receipt_public_key(seed_b64: str) -> str:
        from ballotbox.core.encoding import b64u_decode
        from ballotbox.core.signature import Signer

        try:
            return Signer(b64u_decode(seed_b64)).public_key_b64
        except ValueError as error:
            raise DeployError(
                "The receipt key in SSM is not base64url of 32 bytes; it was not made by "
                "deploy. Restore it, or see docs/runbook.md 'Rotating the receipt key'."
            ) from error

    def package_function(self, campaign_json: Path, template: Path) -> package.Package:
        python = package.runtime_python(template)
        self.say(f"Packaging the function (Linux arm64 wheels for Python {python}) ...")
        wheels = self.deps.fetch_wheels(self.deps.cache_dir / "wheels", python)
        zipped = package.build_zip(
            self.deps.cache_dir / "function.zip",
            functions_dir=ROOT / "functions",
            campaign_json=campaign_json,
            wheels=wheels,
        )
        self.say(f"  {zipped.key} ({zipped.path.stat().st_size // 1024} KiB)")
        return zipped

    def plan_code(
        self, plan: Plan, target: aws.Target, bucket: str, zipped: package.Package
    ) -> None:
        s3 = target.client("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            plan.add(CreateArtifactsBucket(bucket))
            plan.add(UploadCode(bucket, zipped.key, zipped.path))
            return
        try:
            s3.head_object(Bucket=bucket, Key=zipped.key)
        except ClientError:
            plan.add(UploadCode(bucket, zipped.key, zipped.path))

    def parameters(
        self,
        plan: Plan,
        target: aws.Target,
        names: secrets.SecretNames,
        values: dict[str, str],
        code_bucket: str,
        zipped: package.Package,
    ) -> dict[str, Value]:
        args = self.args
        params: dict[str, Value] = {
            "CodeBucket": code_bucket,
            "CodeKey": zipped.key,
            "ReceiptKeyParameterName": names.receipt_key,
            "HashKeyParameterName": names.hash_key,
            "AlarmEmail": args.alarm_email,
            "WeChatSecretParameterName": args.wechat_secret_param,
            "PowDifficulty": args.pow_difficulty,
            "WeChatShareRefresher": "true" if args.wechat_share_refresher else "false",
        }
        if args.reserved_concurrency is not None:
            params["ReservedConcurrency"] = str(args.reserved_concurrency)
        if args.memory is not None:
            params["MemorySize"] = str(args.memory)
        if target.china:
            assert names.origin_verify is not None
            return params | {
                "DomainName": args.domain,
                "IamCertificateId": args.iam_certificate_id,
                "OriginVerifySecret": values[names.origin_verify],
            }
        return params | {
            "WebAclArn": self.plan_web_acl(plan, target),
            "DomainName": args.domain,
            "CertificateArn": args.certificate_arn,
        }

    def plan_web_acl(self, plan: Plan, target: aws.Target) -> Value:
        """The WAF stack lives in us-east-1 (CLOUDFRONT scope); its web ACL ARN."""
        cfn = target.client("cloudformation", region="us-east-1")
        name = f"{self.args.stack}-waf"
        status = stack.stack_status(cfn, name)
        if status == "ROLLBACK_COMPLETE":
            plan.add(DeleteFailedStack(name, "us-east-1"))
        elif status == "DELETE_IN_PROGRESS":
            plan.add(WaitForDeletion(name, "us-east-1"))
        plan.add(ApplyStack(name, "us-east-1", stack.INFRA / "waf.yaml", {}, version="waf"))
        if status is not None and status not in stack.GONE_OR_GOING | {"ROLLBACK_COMPLETE"}:
            return stack.outputs(cfn, name, required=("WebAclArn",))["WebAclArn"]
        pending = f"arn:aws:wafv2:us-east-1:{target.account}:global/webacl/{name}/pending"
        return Output(name, "WebAclArn", "us-east-1", pending)


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path or "/"
