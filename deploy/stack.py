"""CloudFormation through change sets: create, show, execute on consent, wait, explain.

Nothing changes until the organiser has seen the change set (or passed ``--yes``). On a
failure the stack events that explain it are printed, not just "ROLLBACK_COMPLETE".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from deploy.errors import DeployError

INFRA = Path(__file__).resolve().parent.parent / "infra"
CAPABILITIES = ["CAPABILITY_IAM"]
#: States after which an update or create has stopped.
DONE_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
DONE_FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
#: A stack in these states is, for planning, a stack that does not exist: its outputs
#: are about to vanish and must not be read (a dry run would show a dead bucket's diff).
GONE_OR_GOING = {"DELETE_IN_PROGRESS", "DELETE_COMPLETE"}


@dataclass(frozen=True)
class ChangeSet:
    stack: str
    name: str
    id: str
    new_stack: bool
    rows: list[tuple[str, str, str, str]]  # action, logical id, type, replacement

    @property
    def empty(self) -> bool:
        return not self.rows


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None if it does not exist (or only a never-run review)."""
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    status: str = found["StackStatus"]
    return None if status == "REVIEW_IN_PROGRESS" else status


def outputs(cfn: Any, stack: str, *, required: tuple[str, ...] = ()) -> dict[str, str]:
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    values = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    missing = [key for key in required if key not in values]
    if missing:
        raise DeployError(
            f"Stack {stack} has no output {', '.join(missing)}: was it created from an "
            "older or edited template? Redeploy it, or check it in the CloudFormation console."
        )
    return values


def parameters(cfn: Any, stack: str) -> dict[str, str]:
    """The stack's current parameter values (NoEcho ones come back masked)."""
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])}


def create_change_set(
    cfn: Any, stack: str, template: Path, parameters: dict[str, str], *, name: str
) -> ChangeSet:
    """Create a change set and wait until CloudFormation has computed it."""
    status = stack_status(cfn, stack)
    if status is not None and status.endswith(("_IN_PROGRESS",)):
        raise DeployError(f"Stack {stack} is busy ({status}); wait for it to finish.")
    new_stack = status is None
    created = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="CREATE" if new_stack else "UPDATE",
        TemplateBody=template.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
    )
    change_set_id = created["Id"]
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=change_set_id, WaiterConfig={"Delay": 3, "MaxAttempts": 200}
        )
    except KeyboardInterrupt:
        # Ctrl-C while CloudFormation computes: leave no change set (nor empty stack) behind.
        discard(cfn, ChangeSet(stack, name, change_set_id, new_stack, []))
        raise
    except WaiterError as error:
        described = cfn.describe_change_set(ChangeSetName=change_set_id)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(ChangeSetName=change_set_id)
            return ChangeSet(stack, name, change_set_id, new_stack, [])
        raise DeployError(f"CloudFormation refused the change set for {stack}: {reason}") from error
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    rows = [
        (
            c["ResourceChange"].get("Action", ""),
            c["ResourceChange"].get("LogicalResourceId", ""),
            c["ResourceChange"].get("ResourceType", ""),
            c["ResourceChange"].get("Replacement", "") or "-",
        )
        for c in described.get("Changes", [])
    ]
    return ChangeSet(stack, name, change_set_id, new_stack, rows)


def render(change_set: ChangeSet) -> str:
    """A readable table of what the change set would do."""
    if change_set.empty:
        return f"Stack {change_set.stack}: no changes."
    header = ("Action", "Resource", "Type", "Replacement")
    rows = [header, *change_set.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"Stack {change_set.stack} ({'new' if change_set.new_stack else 'update'}):"]
    for n, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def wait_deleted(cfn: Any, stack: str) -> None:
    """Block until ``stack`` is gone; a failed deletion is explained."""
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": 360}
        )
    except WaiterError as error:
        raise DeployError(
            f"Stack {stack} could not be deleted. What went wrong:\n"
            + explain_failure(cfn, stack)
            + "\nFix it in the CloudFormation console (a non-empty bucket is the usual "
            "cause), then run deploy again."
        ) from error


def discard(cfn: Any, change_set: ChangeSet) -> None:
    """Drop a change set we will not run (and the empty stack a CREATE one made)."""
    cfn.delete_change_set(ChangeSetName=change_set.id)
    if change_set.new_stack:
        cfn.delete_stack(StackName=change_set.stack)


def execute_and_wait(
    cfn: Any,
    change_set: ChangeSet,
    *,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 5.0,
) -> None:
    """Run the change set, printing each new stack event, until the stack settles."""
    started = {e["EventId"] for e in _events(cfn, change_set.stack)}
    cfn.execute_change_set(ChangeSetName=change_set.id)
    seen = set(started)
    while True:
        sleep(poll_s)
        fresh = [e for e in _events(cfn, change_set.stack) if e["EventId"] not in seen]
        for event in reversed(fresh):  # the API lists newest first
            seen.add(event["EventId"])
            say(
                f"  {event['LogicalResourceId']:<28} {event['ResourceStatus']:<22} "
                f"{event.get('ResourceStatusReason', '')}".rstrip()
            )
        status = stack_status(cfn, change_set.stack)
        if status in DONE_OK:
            return
        if status in DONE_FAILED or status is None:
            raise DeployError(
                f"Stack {change_set.stack} failed ({status}). What went wrong:\n"
                + explain_failure(cfn, change_set.stack, ignore=started)
            )


def _events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    try:
        events: list[dict[str, Any]] = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except ClientError as error:
        if "does not exist" in str(error):
            return []
        raise
    return events


def explain_failure(cfn: Any, stack: str, *, ignore: set[str] | None = None) -> str:
    """The FAILED events of this run, oldest first, with CloudFormation's reasons."""
    failed = [
        e
        for e in reversed(_events(cfn, stack))
        if e["EventId"] not in (ignore or set()) and e["ResourceStatus"].endswith("FAILED")
    ]
    if not failed:
        return "  (no failure events; see the CloudFormation console)"
    return "\n".join(
        f"  {e['LogicalResourceId']} ({e.get('ResourceType', '')}): "
        f"{e.get('ResourceStatusReason', 'no reason given')}"
        for e in failed
    )
