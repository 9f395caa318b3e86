"""Deploy as a plan and two executors: retries after failures, Ctrl-C, phases, limits.

AWS is moto's; where moto cannot reach a state (a stack in ROLLBACK_COMPLETE or being
deleted) a thin stand-in of CloudFormation reports that state over moto's client.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from deploy import package, plan, secrets, stack
from deploy.aws import Target
from deploy.cli import ROOT, Deployment, Deps, check_concurrency, parser
from deploy.errors import DeployError
from tests.test_deploy import REGION, fake_wheels, write_site


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


class StackStates:
    """moto's CloudFormation, except that some stacks report a given status."""

    def __init__(
        self, real: Any, statuses: dict[str, str], details: dict[str, dict[str, Any]]
    ) -> None:
        self.real = real
        self.statuses = statuses
        self.details = details
        self.deleted: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName in self.statuses:
            # Outputs only where a test gives them: reading one from a dying stack is a bug.
            found = {"StackName": StackName, "StackStatus": self.statuses[StackName]}
            return {"Stacks": [found | self.details.get(StackName, {})]}
        answer: dict[str, Any] = self.real.describe_stacks(StackName=StackName)
        return answer

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        reason = "Resource handler returned message: log group already exists"
        return {
            "StackEvents": [
                {
                    "EventId": "1",
                    "LogicalResourceId": "FunctionLogGroup",
                    "ResourceType": "AWS::Logs::LogGroup",
                    "ResourceStatus": "CREATE_FAILED",
                    "ResourceStatusReason": reason,
                }
            ]
        }

    def delete_stack(self, StackName: str) -> None:
        self.deleted.append(StackName)
        if self.statuses.pop(StackName, None) is None:
            self.real.delete_stack(StackName=StackName)

    def get_waiter(self, name: str) -> Any:
        if name != "stack_delete_complete":
            return self.real.get_waiter(name)
        owner = self

        class Done:
            def wait(self, StackName: str, WaiterConfig: dict[str, int]) -> None:
                assert StackName not in owner.statuses

        return Done()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class Session:
    """A boto3 session whose CloudFormation clients report ``statuses``."""

    def __init__(
        self, statuses: dict[str, str], details: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.statuses = statuses
        self.details = details or {}
        self.cfn: dict[str, StackStates] = {}

    def client(self, service: str, region_name: str | None = None) -> Any:
        real = boto3.client(service, region_name=region_name)
        if service != "cloudformation":
            return real
        states = StackStates(real, self.statuses, self.details)
        return self.cfn.setdefault(region_name or "", states)


def deployment(tmp_path: Path, *extra: str) -> tuple[Deployment, list[str]]:
    lines: list[str] = []
    deps = Deps(
        build_site=write_site,
        fetch_wheels=fake_wheels,
        confirm=lambda question: pytest.fail(f"asked {question!r} while planning"),
        say=lines.append,
        sleep=lambda seconds: None,
        cache_dir=tmp_path / "cache",
        concurrency=lambda target, name: (1000, 0),
    )
    argv = ["--stack", "demo", "--region", REGION, "--out", str(tmp_path / "dist"), *extra]
    return Deployment(parser().parse_args(argv), deps), lines


def target(statuses: dict[str, str], details: dict[str, dict[str, Any]] | None = None) -> Target:
    return Target(Session(statuses, details), REGION, "aws", "123456789012")


def kinds(made: plan.Plan) -> list[str]:
    return [type(i).__name__ for i in made.instructions]


def test_the_plan_orders_every_change_and_uploads_in_phases(aws_env: None, tmp_path: Path) -> None:
    made = Deployment.make_plan(deployment(tmp_path)[0], target({}))
    assert kinds(made) == [
        "CreateSecret",
        "CreateSecret",
        "CreateArtifactsBucket",
        "UploadCode",
        "ApplyStack",  # the WAF, in us-east-1
        "ApplyStack",  # the main stack
        "UploadFiles",
        "UploadFiles",
        "SmokeTest",
        "Announce",
        "Announce",
    ]
    assets, pages = [i for i in made.instructions if isinstance(i, plan.UploadFiles)]
    assert assets.phase == "assets"
    assert {c.file.key for c in assets.changes} == {
        "assets/app.3f2a9c1d.js",
        "assets/site.0badc0de.css",
        "qr.svg",
    }
    page_keys = {c.file.key for c in pages.changes}
    assert "campaign.json" in page_keys
    assert all(k == "campaign.json" or k.endswith((".html", "/")) for k in page_keys)
    # A new stack: its outputs are placeholders the executor reads after applying it.
    assert isinstance(assets.bucket, plan.Output)
    smoke_step = next(i for i in made.instructions if isinstance(i, plan.SmokeTest))
    assert (smoke_step.page, smoke_step.asset) == ("/zh/vote/", "/assets/app.3f2a9c1d.js")
    # Planning changed nothing.
    assert boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"] == []


def test_a_failed_first_create_is_detected_and_its_deletion_offered(
    aws_env: None, tmp_path: Path
) -> None:
    aws_target = target({"demo": "ROLLBACK_COMPLETE"})
    made = Deployment.make_plan(deployment(tmp_path)[0], aws_target)
    assert kinds(made).index("DeleteFailedStack") < kinds(made).index("UploadFiles")
    delete = next(i for i in made.instructions if isinstance(i, plan.DeleteFailedStack))
    assert delete.stack == "demo"

    lines: list[str] = []
    questions: list[str] = []

    def decline(question: str) -> bool:
        questions.append(question)
        return False

    executor = plan.Executor(aws_target, say=lines.append, confirm=decline, yes=False)
    assert executor.run(delete) is False
    assert questions == ["Delete the failed stack demo and create it again?"]
    printed = "\n".join(lines)
    assert "log group already exists" in printed  # why the last attempt failed
    assert "aws cloudformation delete-stack --stack-name demo" in printed
    cfn = aws_target.session.cfn[REGION]
    assert cfn.deleted == []

    executor = plan.Executor(aws_target, say=lines.append, confirm=lambda q: True, yes=False)
    assert executor.run(delete) is True
    assert cfn.deleted == ["demo"]


def test_a_dry_run_never_reads_outputs_of_a_stack_being_deleted(
    aws_env: None, tmp_path: Path
) -> None:
    made = Deployment.make_plan(deployment(tmp_path)[0], target({"demo": "DELETE_IN_PROGRESS"}))
    assert "WaitForDeletion" in kinds(made)
    uploads = [i for i in made.instructions if isinstance(i, plan.UploadFiles)]
    assert all(isinstance(u.bucket, plan.Output) for u in uploads)
    # Shown as a new stack, without a change set CloudFormation would refuse.
    lines: list[str] = []
    plan.DisplayExecutor(target({"demo": "DELETE_IN_PROGRESS"}), lines.append).execute(made)
    assert "Stack demo (new): every resource of the template" in lines


def test_ctrl_c_at_the_question_discards_the_change_set(aws_env: None) -> None:
    aws_target = target({})

    def interrupted(question: str) -> bool:
        raise KeyboardInterrupt

    executor = plan.Executor(aws_target, say=lambda line: None, confirm=interrupted, yes=False)
    apply = plan.ApplyStack("demo-waf", "us-east-1", stack.INFRA / "waf.yaml", {}, version="waf")
    with pytest.raises(KeyboardInterrupt):
        executor.run(apply)
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    # Neither the change set nor the empty stack a CREATE change set makes is left.
    assert stack.stack_status(cfn, "demo-waf") is None
    summaries = cfn.list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries] == ["DELETE_COMPLETE"]


def test_change_set_names_are_unique_per_attempt() -> None:
    first = plan.change_set_name("abc", {"A": "1"})
    second = plan.change_set_name("abc", {"A": "1"})
    assert first != second
    assert re.fullmatch(r"deploy-abc-[0-9a-f]{8}-[0-9a-f]+", first)
    assert len(first) <= 128  # CloudFormation's limit


def test_reserved_concurrency_is_checked_against_the_account() -> None:
    check_concurrency(200, unreserved=1000, current=0)
    check_concurrency(200, unreserved=250, current=50)  # its own reservation comes back
    with pytest.raises(DeployError, match="at most 0") as refused:
        check_concurrency(200, unreserved=10, current=0)  # a new account's quota
    assert "Service Quotas" in str(refused.value)


def test_a_plan_asking_for_too_much_concurrency_stops_before_any_change(
    aws_env: None, tmp_path: Path
) -> None:
    made, _ = deployment(tmp_path)
    made.deps.concurrency = lambda target, name: (10, 0)
    with pytest.raises(DeployError, match="reserve 200"):
        made.make_plan(target({}))


def test_the_packaged_python_is_the_templates_runtime(tmp_path: Path) -> None:
    for name in ("stack.yaml", "stack-cn.yaml"):
        assert package.runtime_python(stack.INFRA / name) == "3.12"
    other = tmp_path / "t.yaml"
    other.write_text("Resources:\n  F:\n    Properties:\n      Runtime: python3.13\n")
    assert package.runtime_python(other) == "3.13"
    other.write_text("A:\n  Runtime: python3.12\nB:\n  Runtime: python3.13\n")
    with pytest.raises(DeployError, match="exactly one"):
        package.runtime_python(other)


def test_the_lock_pins_every_wheel_with_hashes_and_keys_the_cache(tmp_path: Path) -> None:
    text = package.LOCK_FILE.read_text("utf-8")
    locked = dict(r.split("==") for r in package.locked_requirements())
    assert set(locked) == {"pynacl", "cffi", "pycparser"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert f"pynacl=={locked['pynacl']}" in pyproject["project"]["dependencies"]
    for line in (x for x in text.splitlines() if x and not x.startswith("#")):
        assert re.search(r"--hash=sha256:[0-9a-f]{64}$", line), line
    first = package.wheel_cache(tmp_path, "3.12")
    assert package.wheel_cache(tmp_path, "3.13") != first
    changed = tmp_path / "function.lock"
    changed.write_text(text.replace("cffi==", "cffi==9"), "utf-8")
    assert package.wheel_cache(tmp_path, "3.12", changed) != first


def outputs(**values: str) -> list[dict[str, str]]:
    return [{"OutputKey": k, "OutputValue": v} for k, v in values.items()]


def test_a_rotated_receipt_key_is_used_only_once_the_pages_carry_it(
    aws_env: None, tmp_path: Path
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    old, new = secrets.new_secret(), secrets.new_secret()
    for value in (old, new):  # the organiser rotated: version 2 is the new key
        ssm.put_parameter(
            Name="/demo/receipt-key", Value=value, Type="SecureString", Overwrite=True
        )
    ssm.put_parameter(Name="/demo/hash-key", Value=secrets.new_secret(), Type="SecureString")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="site", CreateBucketConfiguration={"LocationConstraint": REGION})
    waf_arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/demo-waf/1"
    aws_target = target(
        {"demo": "UPDATE_COMPLETE", "demo-waf": "UPDATE_COMPLETE"},
        {
            "demo": {
                "Parameters": [{"ParameterKey": "ReceiptKeyVersion", "ParameterValue": "1"}],
                "Outputs": outputs(
                    SiteBucketName="site", DistributionId="E1", SiteUrl="https://d.example"
                ),
            },
            "demo-waf": {"Outputs": outputs(WebAclArn=waf_arn)},
        },
    )
    made = Deployment.make_plan(deployment(tmp_path)[0], aws_target)
    steps = kinds(made)
    applies = [i for i in made.instructions if isinstance(i, plan.ApplyStack) and i.stack == "demo"]
    assert [a.parameters["ReceiptKeyVersion"] for a in applies] == ["1", "2"]
    assert applies[0].parameters["WebAclArn"] == waf_arn
    # Stack with the old key, then assets, then the pages with the new public key, and
    # only then the function switches.
    second = made.instructions.index(applies[1])
    pages = [i for i, x in enumerate(made.instructions) if isinstance(x, plan.UploadFiles)]
    assert made.instructions.index(applies[0]) < pages[0] < pages[1] < second
    assert steps[second + 1] == "SmokeTest"
    assert "CreateSecret" not in steps
    # The site was built with the *new* key's public half.
    from ballotbox.core.encoding import b64u_decode
    from ballotbox.core.signature import Signer

    campaign = (tmp_path / "dist" / "campaign.json").read_text("utf-8")
    assert Signer(b64u_decode(new)).public_key_b64 in campaign


def test_without_a_rotation_the_stack_is_applied_once(aws_env: None, tmp_path: Path) -> None:
    made = Deployment.make_plan(deployment(tmp_path)[0], target({}))
    applies = [i for i in made.instructions if isinstance(i, plan.ApplyStack) and i.stack == "demo"]
    assert [a.parameters["ReceiptKeyVersion"] for a in applies] == ["1"]


def test_the_real_executor_carries_a_plan_out_in_order(aws_env: None, tmp_path: Path) -> None:
    from deploy import sync

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="site", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws_target = target(
        {"demo": "CREATE_COMPLETE"},
        {"demo": {"Outputs": outputs(SiteBucketName="site", SiteUrl="https://d.example")}},
    )
    dist = tmp_path / "dist"
    write_site(dist, receipt_key="k")
    files = sync.local_files(dist)
    code = tmp_path / "function.zip"
    code.write_bytes(b"zip")
    smoked: list[tuple[str, dict[str, Any]]] = []
    lines: list[str] = []
    made = plan.Plan(
        [
            plan.CreateSecret("/demo/receipt-key", secrets.new_secret()),
            plan.CreateArtifactsBucket("demo-artifacts"),
            plan.UploadCode("demo-artifacts", "functions/vote-1.zip", code),
            plan.UploadFiles(
                "assets",
                plan.Output("demo", "SiteBucketName", REGION, "?"),
                [sync.Change("add", f) for f in files if f.key.startswith("assets/")],
            ),
            plan.SmokeTest(
                plan.Output("demo", "SiteUrl", REGION, "?"),
                page="/zh/vote/",
                asset="/assets/app.3f2a9c1d.js",
                china=False,
                region=REGION,
            ),
            plan.Announce("Site", plan.Output("demo", "SiteUrl", REGION, "?")),
        ]
    )
    executor = plan.Executor(
        aws_target,
        say=lines.append,
        confirm=lambda q: pytest.fail(f"asked {q!r}"),
        yes=False,
        smoke_test=lambda url, **kw: smoked.append((url, kw)),
    )
    assert executor.execute(made) is True
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameter(Name="/demo/receipt-key")["Parameter"]["Version"] == 1
    block = s3.get_public_access_block(Bucket="demo-artifacts")
    assert all(block["PublicAccessBlockConfiguration"].values())
    assert (
        s3.get_object(Bucket="demo-artifacts", Key="functions/vote-1.zip")["Body"].read() == b"zip"
    )
    uploaded = {o["Key"] for o in s3.list_objects_v2(Bucket="site")["Contents"]}
    assert uploaded == {"assets/app.3f2a9c1d.js", "assets/site.0badc0de.css"}
    assert smoked == [
        ("https://d.example", {"page": "/zh/vote/", "asset": "/assets/app.3f2a9c1d.js",
                               "china": False, "region": REGION, "say": lines.append})
    ]  # fmt: skip
    assert lines[-1] == "Site: https://d.example"
    # A secret another deploy made meanwhile stops the run: the site was built with ours.
    with pytest.raises(DeployError, match="Another deploy created /demo/receipt-key"):
        executor.run(plan.CreateSecret("/demo/receipt-key", secrets.new_secret()))


def test_a_china_plan_smoke_tests_for_the_api_gateway_whitelist(
    aws_env: None, tmp_path: Path
) -> None:
    made, _ = deployment(tmp_path, "--domain", "vote.example.cn", "--iam-certificate-id", "ASCA123")
    made.args.region = "cn-northwest-1"
    china = Target(Session({}), "cn-northwest-1", "aws-cn", "123456789012")
    steps = made.make_plan(china).instructions
    smoke_step = next(i for i in steps if isinstance(i, plan.SmokeTest))
    assert (smoke_step.china, smoke_step.region) == (True, "cn-northwest-1")
    applies = [i for i in steps if isinstance(i, plan.ApplyStack)]
    assert [(a.stack, a.template.name) for a in applies] == [("demo", "stack-cn.yaml")]
    assert "OriginVerifySecret" in applies[0].parameters
    created = [i.name for i in steps if isinstance(i, plan.CreateSecret)]
    assert created == ["/demo/receipt-key", "/demo/hash-key", "/demo/origin-verify"]


class InterruptedWhileComputing:
    """CloudFormation while the organiser presses Ctrl-C during the change set's wait."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "ValidationError", "Message": "Stack does not exist"}},
            "DescribeStacks",
        )

    def create_change_set(self, **request: Any) -> dict[str, str]:
        self.calls.append(f"create {request['ChangeSetName']}")
        return {"Id": "cs-1"}

    def get_waiter(self, name: str) -> Any:
        class Interrupted:
            def wait(self, **kwargs: Any) -> None:
                raise KeyboardInterrupt

        return Interrupted()

    def delete_change_set(self, ChangeSetName: str) -> None:
        self.calls.append(f"delete change set {ChangeSetName}")

    def delete_stack(self, StackName: str) -> None:
        self.calls.append(f"delete stack {StackName}")


def test_ctrl_c_while_the_change_set_is_computed_leaves_nothing() -> None:
    cfn = InterruptedWhileComputing()
    with pytest.raises(KeyboardInterrupt):
        stack.create_change_set(cfn, "demo", stack.INFRA / "waf.yaml", {}, name="deploy-x")
    assert cfn.calls == ["create deploy-x", "delete change set cs-1", "delete stack demo"]
