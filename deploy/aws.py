"""The AWS session: region and partition checks, and a clear answer about credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from deploy.errors import DeployError

PARTITIONS = ("aws", "aws-cn")


@dataclass(frozen=True)
class Target:
    """Where we deploy: an authenticated session, its region, partition and account."""

    session: Any  # boto3.Session
    region: str
    partition: str
    account: str

    @property
    def china(self) -> bool:
        return self.partition == "aws-cn"

    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region_name=region or self.region)


def known_regions(session: Any) -> dict[str, str]:
    """Every CloudFormation region botocore knows, mapped to its partition."""
    return {
        region: partition
        for partition in PARTITIONS
        for region in session.get_available_regions("cloudformation", partition)
    }


def connect(region: str, profile: str | None = None) -> Target:
    """Open a session and prove it works (``sts:GetCallerIdentity``) before doing anything."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise DeployError(
            f"No AWS profile named {profile!r}. List yours with `aws configure list-profiles`."
        ) from error
    regions = known_regions(session)
    if region not in regions:
        raise DeployError(
            f"{region!r} is not an AWS region. Use e.g. ap-southeast-1 (global) or "
            f"cn-northwest-1 (AWS China). Known: {', '.join(sorted(regions))}."
        )
    partition = regions[region]
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise DeployError(
            "No AWS credentials found. Run `aws configure` (or `aws sso login`), or pass "
            "--profile NAME. AWS China needs an AWS China account's credentials."
        ) from error
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise DeployError(
            f"AWS refused these credentials in {region} ({code}). Check the profile; note "
            "that global and AWS China (cn-*) accounts are separate and keys do not cross."
        ) from error
    return Target(session, region, partition, str(identity["Account"]))
