"""A whole deployment on loopback: site build, function zip, moto, the function, the edge.

``deployed`` does what ``build.py deploy`` and AWS would: builds the site for a campaign,
packages the function with deploy's own ``build_zip`` (host wheels instead of arm64
ones, see ``installed_wheels``), creates the tables and secrets the template names in a
``moto_server``, starts the function from the unzipped package in an interpreter that
holds only what the Lambda runtime has, and puts the template's edge in front.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata, util
from pathlib import Path
from typing import Any

import boto3
from ballotbox.core.encoding import b64u_encode
from ballotbox.core.signature import Signer
from packaging.requirements import Requirement

from deploy import package
from sitegen.build import build_site
from tests.cloud import cfn
from tests.cloud.edge import CLOUDFRONT_403, Edge, EdgeServer, wait_until
from tests.cloud.waf import Block, WebAcl
from tests.vote_page_kit import free_port

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SCRIPT = Path(__file__).with_name("lambda_runtime.py")
#: What the Lambda Python runtime ships besides the standard library.
LAMBDA_RUNTIME_MODULES = (
    "boto3",
    "botocore",
    "jmespath",
    "s3transfer",
    "dateutil",
    "urllib3",
    "six",
)
BEIJING = timedelta(hours=8)


@dataclass(frozen=True)
class Partition:
    name: str
    template: Path
    region: str
    aws_partition: str

    def parameters(self, stack: str, *, wechat: bool) -> dict[str, str]:
        values = {
            "CodeBucket": f"{stack}-artifacts",
            "CodeKey": "functions/vote-emulated.zip",
            "ReceiptKeyParameterName": f"/{stack}/receipt-key",
            "HashKeyParameterName": f"/{stack}/hash-key",
        }
        if wechat:
            values["WeChatSecretParameterName"] = f"/{stack}/wechat-secret"
        if self.aws_partition == "aws":
            values["WebAclArn"] = f"arn:aws:wafv2:us-east-1:123456789012:global/webacl/{stack}/e1"
        else:
            values["OriginVerifySecret"] = "o" * 40
            values["DomainName"] = "vote.example.cn"
            values["IamCertificateId"] = "ASCAEMULATED0000"
        return values


GLOBAL = Partition("global", ROOT / "infra" / "stack.yaml", "us-west-2", "aws")
CHINA = Partition("china", ROOT / "infra" / "stack-cn.yaml", "cn-north-1", "aws-cn")
WAF_TEMPLATE = ROOT / "infra" / "waf.yaml"


# -- the package, as deploy builds it --------------------------------------------------


def installed_wheels(
    names: tuple[str, ...] = package.FUNCTION_PACKAGES,
) -> Callable[[Path], list[Path]]:
    """A wheel fetcher (like deploy's) that repacks the installed distributions.

    Deploy downloads arm64 Linux wheels for Lambda, which cannot be imported here. The
    same pins are installed in the venv for this machine's platform, so the test path
    packs those files (and their dependency closure, as pip would resolve it) into
    wheels and hands them to the same ``build_zip``.
    """

    def closure() -> list[metadata.Distribution]:
        seen: dict[str, metadata.Distribution] = {}
        todo = list(names)
        while todo:
            dist = metadata.distribution(todo.pop())
            key = dist.metadata["Name"].lower()
            if key in seen:
                continue
            seen[key] = dist
            for line in dist.requires or []:
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    todo.append(requirement.name)
        return list(seen.values())

    def fetch(dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        wheels = []
        for dist in closure():
            name = dist.metadata["Name"].replace("-", "_")
            wheel = dest / f"{name}-{dist.version}-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as archive:
                for file in dist.files or []:
                    posix = file.as_posix()
                    if posix.startswith("..") or "__pycache__" in posix or posix.endswith(".pyc"):
                        continue
                    archive.write(file.locate(), posix)
            wheels.append(wheel)
        return sorted(wheels)

    return fetch


def runtime_dir(dest: Path) -> Path:
    """boto3 and its dependencies, alone in a folder: the runtime's own packages."""
    dest.mkdir(parents=True, exist_ok=True)
    for module in LAMBDA_RUNTIME_MODULES:
        spec = util.find_spec(module)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{module} is not installed")
        source = Path(spec.origin)
        if spec.submodule_search_locations:
            source = source.parent
        link = dest / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return dest


# -- AWS on loopback ---------------------------------------------------------------------


class MotoServer:
    """``moto_server`` on a loopback port: DynamoDB and SSM for the function's boto3."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log

    def __enter__(self) -> MotoServer:
        binary = Path(sys.executable).with_name("moto_server")
        self.sink = self.log.open("wb")
        self.proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.sink, stderr=subprocess.STDOUT,
        )  # fmt: skip

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text("utf-8", "replace"))
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    return True
            except OSError:
                return False

        wait_until(up, "moto_server")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sink.close()

    def client(self, service: str, region: str) -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=self.url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip


class FunctionProcess:
    """The unzipped package in a fresh interpreter: standard library, boto3, nothing else."""

    def __init__(self, zipped: Path, work: Path, env: dict[str, str]) -> None:
        self.task = work / "task"
        with zipfile.ZipFile(zipped) as archive:
            archive.extractall(self.task)
        self.runtime = runtime_dir(work / "runtime")
        self.port_file = work / "port"
        self.log = work / "function.log"
        self.env = env
        self.lock = threading.Lock()

    def command(self, *args: str) -> list[str]:
        # -I: no PYTHON* variables, no user site, not the script's folder; -S: no site-packages.
        return [sys.executable, "-I", "-S", *args]

    def __enter__(self) -> FunctionProcess:
        self.sink = self.log.open("wb")
        cmd = self.command(str(RUNTIME_SCRIPT), str(self.task), str(self.runtime),
                           str(self.port_file))  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=self.task, env=self.env, stdout=self.sink, stderr=subprocess.STDOUT
        )

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text("utf-8", "replace"))
            return self.port_file.exists()

        wait_until(up, "the function's runtime")
        self.url = f"http://127.0.0.1:{self.port_file.read_text('ascii')}/invoke"
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sink.close()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(event).encode()
        request = urllib.request.Request(self.url, data=data, method="POST")
        with self.lock, urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, Any] = json.load(answer)
            return result

    def logs(self) -> str:
        return self.log.read_text("utf-8", "replace")


# -- one deployment ------------------------------------------------------------------------


def campaign_content(dest: Path, identity: str) -> Path:
    """content/ with the window around today (the function keeps real time) and ``identity``."""
    shutil.copytree(ROOT / "content", dest)
    path = dest / "campaign.yaml"
    text = path.read_text("utf-8")
    today = (datetime.now(UTC) + BEIJING).date()
    opens, closes = today - timedelta(days=1), today + timedelta(days=3)
    text = re.sub(r"(?m)^opens: .*$", f'opens: "{opens.isoformat()}T00:00:00+08:00"', text)
    text = re.sub(r"(?m)^closes: .*$", f'closes: "{closes.isoformat()}T00:00:00+08:00"', text)
    path.write_text(text + "\nidentity:\n" + identity, "utf-8")
    return dest


@dataclass
class Deployment:
    url: str
    edge: Edge
    dist: Path
    template: cfn.Template
    function: FunctionProcess

    def campaign(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.dist / "campaign.json").read_text("utf-8"))
        return result


@contextmanager
def deployed(
    tmp: Path,
    partition: Partition,
    identity: str,
    moto: MotoServer,
    wheels: list[Path],
    *,
    template_body: dict[str, Any] | None = None,
    parameters: dict[str, str] | None = None,
    waf_parameters: dict[str, str] | None = None,
    wechat_secret: str | None = None,
    function_env: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """Everything from the site build to a listening edge, torn down afterwards."""
    stack = "v" + uuid.uuid4().hex[:10]
    seed, hash_key = os.urandom(32), os.urandom(32)
    content = campaign_content(tmp / "content", identity)
    dist = tmp / "dist"
    build_site(dist, receipt_key=Signer(seed).public_key_b64, content_dir=content)
    values = {**partition.parameters(stack, wechat=wechat_secret is not None), **(parameters or {})}
    template = cfn.Template(
        template_body or cfn.load(partition.template), values, stack_name=stack,
        region=partition.region, partition=partition.aws_partition,
    )  # fmt: skip
    function = template.resource("VoteFunction")
    variables: dict[str, str] = dict(function.get("Environment", {}).get("Variables", {}))

    # What deploy and CloudFormation leave in the account: the tables and the secrets.
    dynamodb = moto.client("dynamodb", partition.region)
    for table in template.of_type("AWS::DynamoDB::Table"):
        props = template.resource(table)
        dynamodb.create_table(
            TableName=template.ref(table), KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"], BillingMode=props["BillingMode"],
        )  # fmt: skip
    ssm = moto.client("ssm", partition.region)
    secrets = {"RECEIPT_KEY_PARAM": b64u_encode(seed), "HASH_KEY_PARAM": b64u_encode(hash_key)}
    if wechat_secret is not None:
        secrets["WECHAT_SECRET_PARAM"] = wechat_secret
    for variable, value in secrets.items():
        ssm.put_parameter(Name=variables[variable], Value=value, Type="SecureString")

    zipped = package.build_zip(
        tmp / "function.zip", functions_dir=ROOT / "functions",
        campaign_json=dist / "campaign.json", wheels=wheels,
    )  # fmt: skip
    env = {
        **variables,
        **(function_env or {}),
        "_HANDLER": function["Handler"],
        "AWS_LAMBDA_FUNCTION_NAME": function.get("FunctionName", stack + "-vote"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.get("MemorySize", 128)),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.get("Timeout", 3)),
        "AWS_REGION": partition.region,
        "AWS_DEFAULT_REGION": partition.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": moto.url,
        "LAMBDA_TASK_ROOT": str(tmp / "fn" / "task"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    (tmp / "fn").mkdir()
    with FunctionProcess(zipped.path, tmp / "fn", env) as process:
        acl = None
        if template.resource(_distribution(template))["DistributionConfig"].get("WebACLId"):
            waf = cfn.Template(cfn.load(WAF_TEMPLATE), dict(waf_parameters or {}),
                               stack_name=stack + "-waf", region="us-east-1")  # fmt: skip
            (web_acl,) = waf.of_type("AWS::WAFv2::WebACL").values()
            blocked = Block(403, {"Content-Type": "text/html"}, CLOUDFRONT_403, "default")
            acl = WebAcl(web_acl, default_block=blocked)
        edge = Edge(template, dist, process.invoke, cloudfront_acl=acl)
        with EdgeServer(edge) as server:
            # As deploy ends: a smoke request through the public URL. It also takes the
            # cold start (boto3's import) off the first test request on a busy machine.
            smoke = urllib.request.Request(server.url + "/api/health")
            with urllib.request.urlopen(smoke, timeout=60) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"the emulated stack is not healthy: {answer.status}")
            edge.log.clear()
            yield Deployment(server.url, edge, dist, template, process)


def _distribution(template: cfn.Template) -> str:
    (logical_id,) = template.of_type("AWS::CloudFront::Distribution")
    return logical_id
