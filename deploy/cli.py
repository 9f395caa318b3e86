"""``python build.py deploy``: the organiser's one command to put the campaign online.

Steps, each printed as it happens: check credentials and region; create the two
secrets if absent (never overwriting); build the site with the receipt key's public
half; package the function; (global only) the WAF stack in us-east-1; the main stack
through a change set shown before it runs; upload the changed files of ``dist/``;
invalidate CloudFront; print the site URL and the QR target. ``--dry-run`` shows the
change sets and the file diff and changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from deploy import aws, package, secrets, stack, sync
from deploy.errors import DeployError

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


class Deployment:
    def __init__(self, args: argparse.Namespace, deps: Deps) -> None:
        self.args = args
        self.deps = deps
        self.say = deps.say

    def run(self) -> int:
        args = self.args
        dry = " (dry run: nothing will change)" if args.dry_run else ""
        target = self.deps.connect(args.region, args.profile)
        self.say(f"Account {target.account}, {target.region} ({target.partition}){dry}")
        if target.china and not (args.domain and args.iam_certificate_id):
            raise DeployError(
                "AWS China needs --domain (an ICP-filed domain) and --iam-certificate-id "
                "(its certificate uploaded to IAM): see docs/runbook.md, 'China'."
            )

        names = secrets.SecretNames.for_stack(args.stack, china=target.china)
        values = self.ensure_secrets(target, names)
        receipt_public = self.receipt_public_key(values[names.receipt_key])

        self.say(f"Building the site into {args.out} ...")
        self.deps.build_site(args.out, receipt_key=receipt_public, results=args.results)
        campaign = json.loads((args.out / "campaign.json").read_text(encoding="utf-8"))

        zipped = self.package_function(args.out / "campaign.json")
        code_bucket = f"{args.stack}-artifacts-{target.account}-{target.region}".lower()[:63]
        if not args.dry_run:
            self.upload_code(target, code_bucket, zipped)

        parameters = self.parameters(target, names, values, code_bucket, zipped)
        if parameters is None:
            return 1
        cfn = target.client("cloudformation")
        template = stack.INFRA / ("stack-cn.yaml" if target.china else "stack.yaml")
        if not self.apply(cfn, args.stack, template, parameters, zipped.sha256):
            return 1

        out = self.stack_outputs(cfn)
        self.sync_site(target, out, campaign)
        return 0

    # -- steps --------------------------------------------------------------------------

    def ensure_secrets(self, target: aws.Target, names: secrets.SecretNames) -> dict[str, str]:
        ssm = target.client("ssm")
        values: dict[str, str] = {}
        for name in names.all():
            value, created = secrets.ensure(ssm, name, dry_run=self.args.dry_run)
            if value is None:  # dry run, absent: a stand-in so the rest can be shown
                self.say(f"Secret {name}: absent, would be created")
                value = secrets.new_secret()
            elif created:
                self.say(f"Secret {name}: created")
            else:
                self.say(f"Secret {name}: exists, kept (never overwritten)")
            values[name] = value
        return values

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

    def package_function(self, campaign_json: Path) -> package.Package:
        self.say("Packaging the function (Linux arm64 wheels) ...")
        wheels = self.deps.fetch_wheels(self.deps.cache_dir / "wheels")
        zipped = package.build_zip(
            self.deps.cache_dir / "function.zip",
            functions_dir=ROOT / "functions",
            campaign_json=campaign_json,
            wheels=wheels,
        )
        self.say(f"  {zipped.key} ({zipped.path.stat().st_size // 1024} KiB)")
        return zipped

    def upload_code(self, target: aws.Target, bucket: str, zipped: package.Package) -> None:
        s3 = target.client("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            self.say(f"Creating the private artifacts bucket {bucket}")
            config = {}
            if target.region != "us-east-1":
                config = {"CreateBucketConfiguration": {"LocationConstraint": target.region}}
            s3.create_bucket(Bucket=bucket, **config)
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        try:
            s3.head_object(Bucket=bucket, Key=zipped.key)
        except ClientError:
            s3.upload_file(str(zipped.path), bucket, zipped.key)

    def parameters(
        self,
        target: aws.Target,
        names: secrets.SecretNames,
        values: dict[str, str],
        code_bucket: str,
        zipped: package.Package,
    ) -> dict[str, str] | None:
        args = self.args
        params = {
            "CodeBucket": code_bucket,
            "CodeKey": zipped.key,
            "ReceiptKeyParameterName": names.receipt_key,
            "HashKeyParameterName": names.hash_key,
            "AlarmEmail": args.alarm_email,
            "WeChatSecretParameterName": args.wechat_secret_param,
            "PowDifficulty": args.pow_difficulty,
        }
        if args.reserved_concurrency is not None:
            params["ReservedConcurrency"] = str(args.reserved_concurrency)
        if args.memory is not None:
            params["MemorySize"] = str(args.memory)
        if target.china:
            assert names.origin_verify is not None
            params |= {
                "DomainName": args.domain,
                "IamCertificateId": args.iam_certificate_id,
                "OriginVerifySecret": values[names.origin_verify],
            }
            return params
        web_acl = self.web_acl(target)
        if web_acl is None:
            return None
        return params | {
            "WebAclArn": web_acl,
            "DomainName": args.domain,
            "CertificateArn": args.certificate_arn,
        }

    def web_acl(self, target: aws.Target) -> str | None:
        """The WAF stack lives in us-east-1 (CLOUDFRONT scope); returns its web ACL ARN."""
        cfn = target.client("cloudformation", region="us-east-1")
        name = f"{self.args.stack}-waf"
        if not self.apply(cfn, name, stack.INFRA / "waf.yaml", {}, "waf"):
            return None
        if stack.stack_status(cfn, name) is None:  # dry run of a first deployment
            return f"arn:aws:wafv2:us-east-1:{target.account}:global/webacl/{name}/pending"
        return stack.outputs(cfn, name, required=("WebAclArn",))["WebAclArn"]

    def apply(
        self, cfn: Any, name: str, template: Path, params: dict[str, str], version: str
    ) -> bool:
        """Show a change set, then run it on consent. False if the organiser said no."""
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        change_set = stack.create_change_set(
            cfn, name, template, params, name=f"deploy-{version[:12]}-{digest[:8]}"
        )
        self.say(stack.render(change_set))
        if change_set.empty:
            return True
        if self.args.dry_run:
            stack.discard(cfn, change_set)
            return True
        if not self.args.yes and not self.deps.confirm(f"Execute these changes to {name}?"):
            stack.discard(cfn, change_set)
            self.say("Nothing changed.")
            return False
        self.say(f"Deploying {name} ...")
        kwargs: dict[str, Any] = {"say": self.say}
        if self.deps.sleep is not None:
            kwargs["sleep"] = self.deps.sleep
        stack.execute_and_wait(cfn, change_set, **kwargs)
        self.say(f"{name}: done.")
        return True

    def stack_outputs(self, cfn: Any) -> dict[str, str]:
        if stack.stack_status(cfn, self.args.stack) is None:
            return {}  # dry run of a first deployment: nothing exists yet
        return stack.outputs(
            cfn, self.args.stack, required=("SiteBucketName", "DistributionId", "SiteUrl")
        )

    def sync_site(self, target: aws.Target, out: dict[str, str], campaign: dict[str, Any]) -> None:
        args = self.args
        files = sync.local_files(args.out)
        s3 = target.client("s3")
        bucket = out.get("SiteBucketName")
        remote = sync.remote_etags(s3, bucket) if bucket else {}
        changes = sync.plan(files, remote, force=args.force_upload)
        unchanged = len(files) - len(changes)
        self.say(f"Site files: {len(changes)} to upload, {unchanged} unchanged")
        for change in changes:
            self.say(f"  {change.action:<6} /{change.file.key}  [{change.file.content_type}]")
        paths = sync.invalidation_paths(changes)
        if args.dry_run:
            if paths:
                self.say(f"Would invalidate: {' '.join(paths)}")
            self.say("Dry run: nothing was executed or uploaded.")
            return
        assert bucket is not None
        if changes:
            from tqdm import tqdm

            total = sum(c.file.size for c in changes)
            with tqdm(total=total, unit="B", unit_scale=True, desc="Uploading") as bar:
                sync.upload(s3, bucket, changes, progress=bar.update)
        if paths:
            target.client("cloudfront").create_invalidation(
                DistributionId=out["DistributionId"],
                InvalidationBatch={
                    "Paths": {"Quantity": len(paths), "Items": paths},
                    # Unique per run: reusing one would silently return the old batch.
                    "CallerReference": f"deploy-{time.time_ns()}",
                },
            )
            self.say(f"Invalidated: {' '.join(paths)}")
        self.say(f"\nSite: {out.get('SiteUrl', '')}")
        self.say(f"QR target: {campaign['vote_url']['zh']}")
