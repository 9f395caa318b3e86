"""A deployment as data: every change in order, then one of two executors runs it.

``deploy.cli`` looks at the account (read-only calls) and writes a ``Plan``: a list of
instructions. ``DisplayExecutor`` shows it (``--dry-run``: change sets are computed so
their rows can be shown, then discarded); ``Executor`` carries it out. Nothing else in
deploy branches on dry-run, so what the preview shows is what a real run does.

A value that only exists once an earlier step has run (a stack output) is an
``Output``: the executor reads it when the instruction runs, and the display shows a
stand-in. Upload phases follow one rule: nothing goes live before what it depends on
(assets before the pages that name them; pages and ``campaign.json`` with the new
receipt key before the function signs with it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from deploy import aws, secrets, smoke, stack, sync
from deploy.errors import DeployError


@dataclass(frozen=True)
class Output:
    """A stack output, known once the stack has been applied."""

    stack: str
    key: str
    region: str
    stand_in: str  # shown by the display executor, and used for its change sets

    def __str__(self) -> str:
        return f"<{self.key} of {self.stack}>"


Value = str | Output


@dataclass(frozen=True)
class CreateSecret:
    name: str
    value: str = field(repr=False)  # the site is built with it before it is put


@dataclass(frozen=True)
class CreateArtifactsBucket:
    bucket: str


@dataclass(frozen=True)
class UploadCode:
    bucket: str
    key: str
    path: Path


@dataclass(frozen=True)
class DeleteFailedStack:
    """A stack whose first create failed (ROLLBACK_COMPLETE) can only be deleted."""

    stack: str
    region: str


@dataclass(frozen=True)
class WaitForDeletion:
    """A stack still being deleted: it must be gone before it is created again."""

    stack: str
    region: str


@dataclass(frozen=True)
class ApplyStack:
    stack: str
    region: str
    template: Path
    parameters: dict[str, Value]
    version: str  # names the change set (with the parameters' digest and the attempt)
    why: str = ""


@dataclass(frozen=True)
class UploadFiles:
    phase: str
    bucket: Value
    changes: list[sync.Change]


@dataclass(frozen=True)
class Invalidate:
    distribution: Value
    paths: list[str]


@dataclass(frozen=True)
class SmokeTest:
    site_url: Value
    page: str
    asset: str
    china: bool
    region: str


@dataclass(frozen=True)
class Announce:
    """A closing line with values (the site URL, the QR target)."""

    label: str
    value: Value


Instruction = (
    CreateSecret
    | CreateArtifactsBucket
    | UploadCode
    | DeleteFailedStack
    | WaitForDeletion
    | ApplyStack
    | UploadFiles
    | Invalidate
    | SmokeTest
    | Announce
)


@dataclass
class Plan:
    instructions: list[Instruction] = field(default_factory=list)

    def add(self, instruction: Instruction) -> None:
        self.instructions.append(instruction)


def change_set_name(version: str, parameters: dict[str, str], attempt: int | None = None) -> str:
    """Unique per attempt: a name reused after an interrupted run would collide."""
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()
    stamp = time.time_ns() if attempt is None else attempt
    return f"deploy-{version[:12]}-{digest[:8]}-{stamp:x}"


# ---------------------------------------------------------------------- executors


class DisplayExecutor:
    """Shows every instruction; computes change sets only to show and discard them."""

    def __init__(self, target: aws.Target, say: Callable[[str], None]) -> None:
        self.target = target
        self.say = say

    def execute(self, plan: Plan) -> None:
        self.say("Plan (dry run: nothing will change)")
        for step, instruction in enumerate(plan.instructions, 1):
            self.show(step, instruction)
        self.say("Dry run: nothing was executed or uploaded.")

    def value(self, value: Value) -> str:
        return value.stand_in if isinstance(value, Output) else value

    def show(self, step: int, instruction: Instruction) -> None:
        say = self.say
        head = f"{step:>2}."
        if isinstance(instruction, CreateSecret):
            say(f"{head} Secret {instruction.name}: absent, would be created")
        elif isinstance(instruction, CreateArtifactsBucket):
            say(f"{head} Create the private artifacts bucket {instruction.bucket}")
        elif isinstance(instruction, UploadCode):
            say(f"{head} Upload the function s3://{instruction.bucket}/{instruction.key}")
        elif isinstance(instruction, DeleteFailedStack):
            say(
                f"{head} Stack {instruction.stack} is ROLLBACK_COMPLETE (its first create "
                "failed): it would be deleted, after asking, and created again"
            )
        elif isinstance(instruction, WaitForDeletion):
            say(f"{head} Wait until stack {instruction.stack} has finished being deleted")
        elif isinstance(instruction, ApplyStack):
            say(f"{head} Apply {instruction.template.name} to stack {instruction.stack}")
            self.preview_stack(instruction)
        elif isinstance(instruction, UploadFiles):
            say(f"{head} Upload {instruction.phase}: {len(instruction.changes)} files")
            for change in instruction.changes:
                say(f"  {change.action:<6} /{change.file.key}  [{change.file.content_type}]")
        elif isinstance(instruction, Invalidate):
            say(f"{head} Would invalidate: {' '.join(instruction.paths)}")
        elif isinstance(instruction, SmokeTest):
            say(
                f"{head} Smoke test through {self.value(instruction.site_url)}: /api/health, "
                f"/api/status, {instruction.page}, {instruction.asset}"
            )
        else:
            say(f"{head} {instruction.label}: {self.value(instruction.value)}")

    def preview_stack(self, instruction: ApplyStack) -> None:
        """A change set shows exactly what CloudFormation would do; then it is dropped."""
        cfn = self.target.client("cloudformation", region=instruction.region)
        status = stack.stack_status(cfn, instruction.stack)
        if status in stack.GONE_OR_GOING or status == "ROLLBACK_COMPLETE":
            # The stack will be new; a change set cannot be made until the old one is gone.
            self.say(f"Stack {instruction.stack} (new): every resource of the template")
            return
        parameters = {k: self.value(v) for k, v in instruction.parameters.items()}
        name = change_set_name(instruction.version, parameters)
        change_set = stack.create_change_set(
            cfn, instruction.stack, instruction.template, parameters, name=name
        )
        try:
            self.say(stack.render(change_set))
        finally:
            if not change_set.empty:
                stack.discard(cfn, change_set)


class Executor:
    """Carries a plan out, asking before each change set and before deleting a stack."""

    def __init__(
        self,
        target: aws.Target,
        *,
        say: Callable[[str], None],
        confirm: Callable[[str], bool],
        yes: bool,
        sleep: Callable[[float], None] = time.sleep,
        smoke_test: Callable[..., None] = smoke.check,
    ) -> None:
        self.target = target
        self.say = say
        self.confirm = confirm
        self.yes = yes
        self.sleep = sleep
        self.smoke_test = smoke_test
        self.declined = False

    def execute(self, plan: Plan) -> bool:
        """True when every instruction ran; False if the organiser said no to one."""
        for instruction in plan.instructions:
            if not self.run(instruction):
                self.declined = True
                self.say("Stopped here; nothing after this step was changed.")
                return False
        return True

    def value(self, value: Value) -> str:
        if not isinstance(value, Output):
            return value
        cfn = self.target.client("cloudformation", region=value.region)
        return stack.outputs(cfn, value.stack, required=(value.key,))[value.key]

    def run(self, instruction: Instruction) -> bool:
        say = self.say
        if isinstance(instruction, CreateSecret):
            secrets.create(self.target.client("ssm"), instruction.name, instruction.value)
            say(f"Secret {instruction.name}: created")
        elif isinstance(instruction, CreateArtifactsBucket):
            say(f"Creating the private artifacts bucket {instruction.bucket}")
            create_private_bucket(self.target, instruction.bucket)
        elif isinstance(instruction, UploadCode):
            say(f"Uploading the function to s3://{instruction.bucket}/{instruction.key}")
            self.target.client("s3").upload_file(
                str(instruction.path), instruction.bucket, instruction.key
            )
        elif isinstance(instruction, DeleteFailedStack):
            return self.delete_failed(instruction)
        elif isinstance(instruction, WaitForDeletion):
            say(f"Waiting for stack {instruction.stack} to finish being deleted ...")
            cfn = self.target.client("cloudformation", region=instruction.region)
            stack.wait_deleted(cfn, instruction.stack)
        elif isinstance(instruction, ApplyStack):
            return self.apply(instruction)
        elif isinstance(instruction, UploadFiles):
            self.upload(instruction)
        elif isinstance(instruction, Invalidate):
            self.target.client("cloudfront").create_invalidation(
                DistributionId=self.value(instruction.distribution),
                InvalidationBatch={
                    "Paths": {"Quantity": len(instruction.paths), "Items": instruction.paths},
                    # Unique per run: reusing one would silently return the old batch.
                    "CallerReference": f"deploy-{time.time_ns()}",
                },
            )
            say(f"Invalidated: {' '.join(instruction.paths)}")
        elif isinstance(instruction, SmokeTest):
            url = self.value(instruction.site_url)
            say(f"Smoke test through {url} ...")
            self.smoke_test(
                url,
                page=instruction.page,
                asset=instruction.asset,
                china=instruction.china,
                region=instruction.region,
                say=say,
            )
        else:
            say(f"{instruction.label}: {self.value(instruction.value)}")
        return True

    def delete_failed(self, instruction: DeleteFailedStack) -> bool:
        cfn = self.target.client("cloudformation", region=instruction.region)
        self.say(
            f"Stack {instruction.stack} is ROLLBACK_COMPLETE: its first create failed, and "
            "CloudFormation can only delete it. What went wrong last time:\n"
            + stack.explain_failure(cfn, instruction.stack)
        )
        question = f"Delete the failed stack {instruction.stack} and create it again?"
        if not self.yes and not self.confirm(question):
            self.say(
                "Kept. Fix the cause above, then run deploy again and answer yes, or delete "
                f"it yourself: aws cloudformation delete-stack --stack-name {instruction.stack}"
            )
            return False
        cfn.delete_stack(StackName=instruction.stack)
        stack.wait_deleted(cfn, instruction.stack)
        self.say(f"{instruction.stack}: deleted.")
        return True

    def apply(self, instruction: ApplyStack) -> bool:
        """Show a change set, then run it on consent; discard it on no or Ctrl-C."""
        cfn = self.target.client("cloudformation", region=instruction.region)
        parameters = {k: self.value(v) for k, v in instruction.parameters.items()}
        name = change_set_name(instruction.version, parameters)
        change_set = stack.create_change_set(
            cfn, instruction.stack, instruction.template, parameters, name=name
        )
        if instruction.why:
            self.say(instruction.why)
        self.say(stack.render(change_set))
        if change_set.empty:
            return True
        try:
            approved = self.yes or self.confirm(f"Execute these changes to {instruction.stack}?")
        except KeyboardInterrupt:
            stack.discard(cfn, change_set)
            raise
        if not approved:
            stack.discard(cfn, change_set)
            self.say("Nothing changed.")
            return False
        self.say(f"Deploying {instruction.stack} ...")
        stack.execute_and_wait(cfn, change_set, say=self.say, sleep=self.sleep)
        self.say(f"{instruction.stack}: done.")
        return True

    def upload(self, instruction: UploadFiles) -> None:
        if not instruction.changes:
            self.say(f"Upload {instruction.phase}: nothing changed")
            return
        from tqdm import tqdm

        bucket = self.value(instruction.bucket)
        total = sum(c.file.size for c in instruction.changes)
        with tqdm(total=total, unit="B", unit_scale=True, desc=instruction.phase) as bar:
            sync.upload(self.target.client("s3"), bucket, instruction.changes, progress=bar.update)


def create_private_bucket(target: aws.Target, bucket: str) -> None:
    s3 = target.client("s3")
    config: dict[str, Any] = {}
    if target.region != "us-east-1":
        config = {"CreateBucketConfiguration": {"LocationConstraint": target.region}}
    try:
        s3.create_bucket(Bucket=bucket, **config)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise DeployError(f"Cannot create the artifacts bucket {bucket}: {error}") from error
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
