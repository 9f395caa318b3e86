"""cfn-lint on every template, for regions of the partition each one targets.

Runs through cfn-lint's Python API (no subprocess, no network): its bundled resource
specs know which resource types and properties exist in each region.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

INFRA = Path(__file__).resolve().parent.parent / "infra"

GLOBAL_REGIONS = ["us-east-1", "ap-southeast-1"]
CHINA_REGIONS = ["cn-north-1", "cn-northwest-1"]


def lint(template: str, regions: list[str]) -> list[str]:
    matches = lint_file(INFRA / template, config=ManualArgs(regions=regions))
    return [str(match) for match in matches]


@pytest.mark.parametrize(
    ("template", "regions"),
    [
        ("stack.yaml", GLOBAL_REGIONS),
        # The CLOUDFRONT-scope web ACL is always created in us-east-1.
        ("waf.yaml", ["us-east-1"]),
        ("stack-cn.yaml", CHINA_REGIONS),
    ],
)
def test_template_lints_clean(template: str, regions: list[str]) -> None:
    assert lint(template, regions) == []


def test_the_global_template_is_rightly_refused_in_china() -> None:
    """The lint knows China's gaps: origin access control does not exist there."""
    problems = lint("stack.yaml", CHINA_REGIONS)
    assert any("AWS::CloudFront::OriginAccessControl" in problem for problem in problems)
