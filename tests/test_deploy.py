"""``build.py deploy`` against moto, in-process and offline.

The site builder and the wheel download are injected (a tiny fake ``dist/`` and a tiny
wheel), so these tests depend on neither the site builder nor the network.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deploy import aws, package, secrets, stack, sync
from deploy.cli import ROOT, Deps, main
from deploy.errors import DeployError
from deploy.package import build_zip

REGION = "ap-southeast-1"
VOTE_URL = "https://vote.example.org/zh/vote/"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials inside ``mock_aws``: nothing can reach a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def write_site(out_dir: Path, *, receipt_key: str, results: Path | None = None) -> None:
    """A fake builder: the shapes deploy cares about, in a few bytes."""
    out = out_dir
    (out / "zh" / "vote").mkdir(parents=True, exist_ok=True)
    (out / "assets").mkdir(exist_ok=True)
    (out / "index.html").write_text("<!doctype html><title>root</title>", encoding="utf-8")
    (out / "zh" / "index.html").write_text("<!doctype html><title>投票</title>", encoding="utf-8")
    (out / "zh" / "vote" / "index.html").write_text("<title>vote</title>", encoding="utf-8")
    (out / "assets" / "app.3f2a9c1d.js").write_text("console.log(1)", encoding="utf-8")
    (out / "assets" / "site.0badc0de.css").write_text("body{}", encoding="utf-8")
    (out / "qr.svg").write_text("<svg/>", encoding="utf-8")
    campaign = {"id": "demo", "receipt_key": receipt_key, "vote_url": {"zh": VOTE_URL}}
    (out / "campaign.json").write_text(json.dumps(campaign), encoding="utf-8")


def fake_wheels(cache: Path, python_version: str = "3.12") -> list[Path]:
    """A wheel made on the spot, in the folder the real fetcher would use."""
    dest = package.wheel_cache(cache, python_version)
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / "tiny-1.0-cp312-abi3-manylinux2014_aarch64.whl"
    if not wheel.exists():
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("tiny/__init__.py", "VALUE = 1\n")
            archive.writestr("tiny-1.0.dist-info/METADATA", "Name: tiny\n")
    return [wheel]


# ---------------------------------------------------------------------- uploads


@pytest.fixture
def site(tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    write_site(out, receipt_key="k")
    return out


@pytest.fixture
def bucket(aws_env: None) -> tuple[Any, str]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="site", CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3, "site"


def test_uploads_carry_content_type_and_cache_control(site: Path, bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    sync.upload(s3, name, sync.plan(sync.local_files(site), {}))
    expected = {
        "index.html": ("text/html; charset=utf-8", sync.HTML_CACHE),
        "zh/": ("text/html; charset=utf-8", sync.HTML_CACHE),
        "zh/vote/": ("text/html; charset=utf-8", sync.HTML_CACHE),
        "campaign.json": ("application/json", sync.SHORT_CACHE),
        "qr.svg": ("image/svg+xml", sync.SHORT_CACHE),
        "assets/app.3f2a9c1d.js": ("text/javascript; charset=utf-8", sync.LONG_CACHE),
        "assets/site.0badc0de.css": ("text/css; charset=utf-8", sync.LONG_CACHE),
    }
    for key, (content_type, cache_control) in expected.items():
        head = s3.head_object(Bucket=name, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache_control), key
    # The directory alias serves the very bytes of its index page.
    alias = s3.get_object(Bucket=name, Key="zh/")["Body"].read()
    assert alias == (site / "zh" / "index.html").read_bytes()
    assert sync.LONG_CACHE == "public, max-age=31536000, immutable"
    assert sync.SHORT_CACHE == "public, max-age=60, must-revalidate"
    assert sync.HTML_CACHE == "no-cache"  # pages revalidate (WeChat's browser cache)


def test_only_changed_files_are_uploaded_and_invalidated(
    site: Path, bucket: tuple[Any, str]
) -> None:
    s3, name = bucket
    first = sync.plan(sync.local_files(site), sync.remote_etags(s3, name))
    assert {c.action for c in first} == {"add"}
    assert sync.invalidation_paths(first) == []  # nothing was cached yet
    sync.upload(s3, name, first)

    assert sync.plan(sync.local_files(site), sync.remote_etags(s3, name)) == []

    (site / "zh" / "index.html").write_text("<title>新</title>", encoding="utf-8")
    (site / "assets" / "app.9e8d7c6b.js").write_text("console.log(2)", encoding="utf-8")
    third = sync.plan(sync.local_files(site), sync.remote_etags(s3, name))
    assert sorted((c.action, c.file.key) for c in third) == [
        ("add", "assets/app.9e8d7c6b.js"),
        ("update", "zh/"),
        ("update", "zh/index.html"),
    ]
    assert sync.invalidation_paths(third) == ["/zh/", "/zh/index.html"]


def test_many_changed_pages_become_one_wildcard_invalidation(site: Path) -> None:
    files = [f for f in sync.local_files(site) if f.key.endswith(".html")]
    changes = [sync.Change("update", f) for f in files] * 8
    assert sync.invalidation_paths(changes) == ["/*"]


@pytest.mark.parametrize(
    ("name", "fingerprinted"),
    [("app.3f2a9c1d.js", True), ("app.js", False), ("v1.2.js", False), ("a.deadbeef00.css", True)],
)
def test_fingerprint_detection(name: str, fingerprinted: bool) -> None:
    assert (sync.cache_control(name) == sync.LONG_CACHE) is fingerprinted


# ---------------------------------------------------------------------- secrets


def test_secrets_are_created_once_and_never_overwritten(aws_env: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    value, created = secrets.ensure(ssm, "/demo/receipt-key")
    assert created
    assert value is not None
    assert len(value) == 43  # base64url of 32 bytes, no padding
    again, created_again = secrets.ensure(ssm, "/demo/receipt-key")
    assert (again, created_again) == (value, False)
    stored = ssm.get_parameter(Name="/demo/receipt-key", WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString"
    assert stored["Value"] == value
    assert stored["Version"] == 1


def test_an_existing_secret_is_kept_as_is(aws_env: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/demo/hash-key", Value="organiser-made", Type="SecureString")
    assert secrets.ensure(ssm, "/demo/hash-key") == ("organiser-made", False)


def test_a_dry_run_creates_no_secret(aws_env: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    assert secrets.ensure(ssm, "/demo/receipt-key", dry_run=True) == (None, True)
    assert ssm.describe_parameters()["Parameters"] == []


# ---------------------------------------------------------------------- the zip


def test_the_function_zip_is_reproducible(tmp_path: Path, site: Path) -> None:
    wheels = fake_wheels(tmp_path / "wheels")
    functions = ROOT / "functions"
    first = build_zip(
        tmp_path / "a.zip",
        functions_dir=functions,
        campaign_json=site / "campaign.json",
        wheels=wheels,
    )
    # Touch every input's timestamp: the bytes must not move.
    (site / "campaign.json").touch()
    second = build_zip(
        tmp_path / "b.zip",
        functions_dir=functions,
        campaign_json=site / "campaign.json",
        wheels=wheels,
    )
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    assert first.key == f"functions/vote-{first.sha256[:20]}.zip"
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
        infos = archive.infolist()
        assert names == sorted(names)
        assert {"vote_handler.py", "campaign.json", "tiny/__init__.py"} <= set(names)
        assert "ballotbox/stores/dynamodb.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}
        assert archive.read("campaign.json") == (site / "campaign.json").read_bytes()


def test_the_zip_changes_when_the_campaign_does(tmp_path: Path, site: Path) -> None:
    functions = ROOT / "functions"
    first = build_zip(
        tmp_path / "a.zip", functions_dir=functions, campaign_json=site / "campaign.json", wheels=[]
    )
    (site / "campaign.json").write_text("{}", encoding="utf-8")
    second = build_zip(
        tmp_path / "b.zip", functions_dir=functions, campaign_json=site / "campaign.json", wheels=[]
    )
    assert first.sha256 != second.sha256


# ---------------------------------------------------------------------- the command


def run_deploy(tmp_path: Path, *extra: str) -> tuple[int, str]:
    lines: list[str] = []
    deps = Deps(
        build_site=write_site,
        fetch_wheels=fake_wheels,
        confirm=lambda question: pytest.fail(f"asked {question!r} in a dry run"),
        say=lines.append,
        sleep=lambda seconds: None,
        cache_dir=tmp_path / "cache",
        concurrency=lambda target, name: (1000, 0),
    )
    argv = ["--stack", "demo", "--region", REGION, "--out", str(tmp_path / "dist"), *extra]
    code = main(argv, deps)
    return code, "\n".join(lines)


def test_dry_run_prints_the_plan_and_changes_nothing(aws_env: None, tmp_path: Path) -> None:
    code, printed = run_deploy(tmp_path, "--dry-run")
    assert code == 0
    assert "Secret /demo/receipt-key: absent, would be created" in printed
    assert "Stack demo-waf (new):" in printed
    assert "Stack demo (new):" in printed
    for resource in ("LedgerTable", "CapsTable", "VoteFunction", "Distribution", "FunctionRole"):
        assert f"Add     {resource}" in printed
    assert "add    /zh/  [text/html; charset=utf-8]" in printed
    assert "Dry run: nothing was executed or uploaded." in printed
    # Nothing exists afterwards: no secret, no bucket, no stack.
    assert boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"] == []
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert stack.stack_status(cfn, "demo") is None


def test_a_wrong_region_is_a_clear_error(
    aws_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    deps = Deps(build_site=write_site, fetch_wheels=fake_wheels, say=lines.append)
    code = main(["--stack", "demo", "--region", "ap-nowhere-9"], deps)
    assert code == 1
    assert "'ap-nowhere-9' is not an AWS region" in capsys.readouterr().err


def test_missing_credentials_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    with pytest.raises(DeployError, match="No AWS credentials found"):
        aws.connect(REGION)


def test_china_regions_are_recognised(aws_env: None) -> None:
    target = aws.connect("cn-northwest-1")
    assert (target.partition, target.china) == ("aws-cn", True)


# ---------------------------------------------------------------------- a failed stack


class FailingStack:
    """A CloudFormation stand-in whose update fails with a reason, like the real one."""

    def __init__(self) -> None:
        self.events = [self.event("0", "demo", "UPDATE_COMPLETE", "")]
        self.status = "UPDATE_COMPLETE"

    @staticmethod
    def event(event_id: str, resource: str, status: str, reason: str) -> dict[str, str]:
        return {
            "EventId": event_id,
            "LogicalResourceId": resource,
            "ResourceType": "AWS::DynamoDB::Table",
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }

    def execute_change_set(self, ChangeSetName: str) -> None:
        reason = "Table already exists: votes-ledger"
        self.events[:0] = [
            self.event("3", "demo", "UPDATE_ROLLBACK_COMPLETE", ""),
            self.event("2", "LedgerTable", "UPDATE_FAILED", reason),
            self.event("1", "LedgerTable", "UPDATE_IN_PROGRESS", ""),
        ]
        self.status = "UPDATE_ROLLBACK_COMPLETE"

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": list(self.events)}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackStatus": self.status}]}


def test_a_failed_update_names_the_resource_and_the_reason() -> None:
    cfn = FailingStack()
    change_set = stack.ChangeSet("demo", "cs", "cs-id", False, [("Modify", "LedgerTable", "", "")])
    printed: list[str] = []
    with pytest.raises(DeployError) as raised:
        stack.execute_and_wait(cfn, change_set, say=printed.append, sleep=lambda s: None)
    message = str(raised.value)
    assert "UPDATE_ROLLBACK_COMPLETE" in message
    assert "LedgerTable (AWS::DynamoDB::Table): Table already exists: votes-ledger" in message
    assert any("UPDATE_FAILED" in line for line in printed)


def test_the_change_set_table_is_readable() -> None:
    change_set = stack.ChangeSet(
        "demo", "cs", "id", False, [("Modify", "VoteFunction", "AWS::Lambda::Function", "False")]
    )
    rendered = stack.render(change_set).splitlines()
    assert rendered[0] == "Stack demo (update):"
    assert rendered[1].split() == ["Action", "Resource", "Type", "Replacement"]
    assert rendered[3].split() == ["Modify", "VoteFunction", "AWS::Lambda::Function", "False"]
    assert stack.render(stack.ChangeSet("demo", "cs", "id", False, [])) == "Stack demo: no changes."
