"""The API through the emulated edge of each template, the function running from its zip.

Each deployment reads infra/stack.yaml or infra/stack-cn.yaml (see tests/cloud/README.md);
the mutation tests change a template the way a careless edit would and show that the
vote path then breaks here, before any real deployment.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cloud import cfn
from tests.cloud.client import call, post_json, pow_credential, status, vote
from tests.cloud.stack import CHINA, GLOBAL, MotoServer, Partition, deployed
from tests.votekit import Voter

PARTITIONS = [pytest.param(GLOBAL, id="global"), pytest.param(CHINA, id="china")]
POW = "  mode: device+pow\n  pow_difficulty: 6\n"


def first_candidate(campaign: dict[str, Any]) -> str:
    return str(campaign["candidates"][0]["id"])


def without_header(partition: Partition, header: str) -> dict[str, Any]:
    """The template with ``header`` dropped from the API's origin request policy."""
    body = copy.deepcopy(cfn.load(partition.template))
    config = body["Resources"]["ApiOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    headers = config["HeadersConfig"]["Headers"]
    assert header in headers
    headers.remove(header)
    return body


def test_the_function_runs_from_its_zip_with_only_the_lambda_runtime(
    tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    """Its code, pynacl and campaign.json come from the zip; boto3 from the runtime; no repo."""
    with deployed(tmp_path, GLOBAL, "  mode: device\n", moto, wheels) as stack:
        process = stack.function
        probe = (
            "import sys; sys.path[:0] = sys.argv[1:3]\n"
            "import json, nacl, ballotbox, vote_handler, boto3\n"
            "found = {m.__name__: m.__file__ for m in (nacl, ballotbox, vote_handler, boto3)}\n"
            "missing = []\n"
            "for name in ('yaml', 'jinja2', 'moto', 'sitegen', 'localserver', 'tests'):\n"
            "    try:\n"
            "        __import__(name)\n"
            "    except ModuleNotFoundError:\n"
            "        missing.append(name)\n"
            "print(json.dumps({'found': found, 'missing': missing}))\n"
        )
        done = subprocess.run(
            process.command("-c", probe, str(process.task), str(process.runtime)),
            cwd=process.task, env=process.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        report = json.loads(done.stdout)
        task = str(process.task)
        for name in ("nacl", "ballotbox", "vote_handler"):
            assert report["found"][name].startswith(task), report
        assert report["found"]["boto3"].startswith(str(process.runtime)), report
        assert report["missing"] == ["yaml", "jinja2", "moto", "sitegen", "localserver", "tests"]
        assert (process.task / "campaign.json").read_bytes() == (
            stack.dist / "campaign.json"
        ).read_bytes()


@pytest.mark.parametrize("partition", PARTITIONS)
def test_device_mode_votes_through_the_edge(
    partition: Partition, tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    with deployed(tmp_path, partition, "  mode: device\n", moto, wheels) as stack:
        campaign = stack.campaign()
        voter = Voter()
        cid = first_candidate(campaign)
        answer = vote(stack.url, voter, campaign["id"], cid)
        assert answer.status == 200, answer.body
        assert answer.json()["votes_left_today"] == campaign["daily_cap"] - 1
        report = status(stack.url, voter)
        assert report.json()["votes_left"][cid] == campaign["daily_cap"] - 1
        # The event had the front door's shape: 2.0 from a Function URL, 1.0 from API Gateway.
        last = stack.edge.log[-1]
        assert ("version" in last) == (partition is GLOBAL)
        assert ("httpMethod" in last) == (partition is CHINA)


@pytest.mark.parametrize("partition", PARTITIONS)
def test_pow_mode_votes_through_the_edge(
    partition: Partition, tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    with deployed(tmp_path, partition, POW, moto, wheels) as stack:
        campaign = stack.campaign()
        voter = Voter()
        cid = first_candidate(campaign)
        refused = vote(stack.url, voter, campaign["id"], cid)
        assert (refused.status, refused.json()["error"]) == (403, "proof_required")
        earned = pow_credential(stack.url, voter)
        assert earned.status == 200, earned.body
        token = earned.json()["credential"]
        answer = vote(stack.url, voter, campaign["id"], cid, token)
        assert answer.status == 200, answer.body
        assert status(stack.url, voter, token).status == 200


@pytest.mark.parametrize(
    ("partition", "header", "breaks"),
    [
        pytest.param(GLOBAL, "X-Vote-Credential", "vote", id="global-credential"),
        pytest.param(GLOBAL, "X-Proof-Of-Work", "credential", id="global-proof"),
        pytest.param(GLOBAL, "x-amz-content-sha256", "credential", id="global-body-hash"),
        pytest.param(GLOBAL, "Content-Type", "credential", id="global-content-type"),
        pytest.param(CHINA, "X-Vote-Credential", "vote", id="china-credential"),
        pytest.param(CHINA, "X-Proof-Of-Work", "credential", id="china-proof"),
        pytest.param(CHINA, "Content-Type", "credential", id="china-content-type"),
    ],
)
def test_a_template_that_drops_a_header_breaks_the_vote_path_here(
    partition: Partition, header: str, breaks: str, tmp_path: Path, moto: MotoServer,
    wheels: list[Path],
) -> None:  # fmt: skip
    """The suite catches a template edit that would break voting in the cloud."""
    mutated = without_header(partition, header)
    with deployed(tmp_path, partition, POW, moto, wheels, template_body=mutated) as stack:
        campaign = stack.campaign()
        voter = Voter()
        earned = pow_credential(stack.url, voter)
        if breaks == "credential":
            assert earned.status in (400, 403, 415), earned.body
            return
        assert earned.status == 200, earned.body
        answer = vote(stack.url, voter, campaign["id"], first_candidate(campaign),
                      earned.json()["credential"])  # fmt: skip
        assert (answer.status, answer.json()["error"]) == (403, "proof_required")


def test_a_post_without_its_body_hash_is_refused_by_lambda_not_the_function(
    tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    with deployed(tmp_path, GLOBAL, "  mode: device\n", moto, wheels) as stack:
        campaign = stack.campaign()
        body = Voter().vote_body(first_candidate(campaign), campaign_id=campaign["id"])
        before = len(stack.edge.log)
        for headers in ({"x-amz-content-sha256": "0" * 64}, {}):
            answer = call(f"{stack.url}/api/vote", "POST", body,
                          {"Content-Type": "application/json", **headers})  # fmt: skip
            assert answer.status == 403
            assert "error" not in answer.json()  # Lambda's words, not the API's refusal
            assert "signature" in answer.json()["message"]
        assert len(stack.edge.log) == before  # the function never ran


@pytest.mark.parametrize("partition", PARTITIONS)
def test_the_api_json_404_reaches_the_page_and_a_custom_404_would_hide_it(
    partition: Partition, tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    with deployed(tmp_path, partition, "  mode: device\n", moto, wheels) as stack:
        answer = call(f"{stack.url}/api/no-such-route")
        assert answer.status == 404
        assert answer.json()["error"] == "not_found"
        missing = call(f"{stack.url}/zh/no-such-page/")
        assert missing.status == 404
    # The old template's distribution-wide custom 404 turned the API's JSON into HTML.
    body = copy.deepcopy(cfn.load(partition.template))
    config = body["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    config["CustomErrorResponses"] = [
        {"ErrorCode": 404, "ResponsePagePath": "/404.html", "ResponseCode": 404}
    ]
    with deployed(tmp_path / "old", partition, "  mode: device\n", moto, wheels,
                  template_body=body) as stack:  # fmt: skip
        answer = call(f"{stack.url}/api/no-such-route")
        assert answer.status == 404
        assert answer.content_type.startswith("text/html")


@pytest.mark.parametrize("partition", PARTITIONS)
def test_a_forged_viewer_address_does_not_move_the_network_limit(
    partition: Partition, tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    """The function keys its limit on the viewer the edge saw, whatever the client says."""
    identity = "  mode: device\n  network_burst: 3\n  network_per_minute: 1\n"
    with deployed(tmp_path, partition, identity, moto, wheels) as stack:
        voter = Voter()
        stack.edge.viewer_ip = "203.0.113.50"
        answers = []
        for i in range(4):
            forged = {"CloudFront-Viewer-Address": f"192.0.2.{i}:443",
                      "X-Forwarded-For": f"192.0.2.{i}"}  # fmt: skip
            answers.append(call(f"{stack.url}/api/status?voter={voter.public}", headers=forged))
            sent = {k.lower(): v for k, v in stack.edge.log[-1]["headers"].items()}
            # Global CloudFront writes the header itself; China's edge is taken to pass
            # the client's word, which the China stack tells the function not to trust.
            expected = "203.0.113.50:" if partition is GLOBAL else f"192.0.2.{i}:"
            assert sent["cloudfront-viewer-address"].startswith(expected)
        assert [a.status for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["error"] == "network_limited"
        # Another network (not CloudFront's one address) has its own allowance.
        stack.edge.viewer_ip = "198.51.100.80"
        assert call(f"{stack.url}/api/status?voter={voter.public}").status == 200


def test_the_global_waf_limits_one_viewer_with_the_json_503(
    tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    with deployed(tmp_path, GLOBAL, "  mode: device\n", moto, wheels,
                  waf_parameters={"ApiRateLimit": "100"}) as stack:  # fmt: skip
        stack.edge.viewer_ip = "203.0.113.77"
        codes = [call(f"{stack.url}/api/health").status for _ in range(101)]
        assert codes == [200] * 100 + [503]
        limited = call(f"{stack.url}/api/health")
        assert limited.headers["Retry-After"] == "60"
        assert limited.json()["error"] == "unavailable"
        assert call(f"{stack.url}/zh/").status == 200  # pages are not in the rule's scope
        stack.edge.viewer_ip = "203.0.113.78"
        assert call(f"{stack.url}/api/health").status == 200


def test_china_api_refuses_calls_that_skip_cloudfront(
    tmp_path: Path, moto: MotoServer, wheels: list[Path]
) -> None:
    """The regional WAF lets through only requests that carry CloudFront's secret header."""
    with deployed(tmp_path, CHINA, "  mode: device\n", moto, wheels) as stack:
        edge = stack.edge
        (origin,) = [o for o in edge.origins.values() if "OriginCustomHeaders" in o]
        secret = origin["OriginCustomHeaders"][0]
        # The API as CloudFront calls it works; as a client calls it directly, refused.
        assert call(f"{stack.url}/api/health").status == 200
        direct = post_json(f"{stack.url}/api/vote", b"{}", {secret["HeaderName"]: "guess"})
        assert direct.status == 400  # the edge overwrote the guess with the real secret
        from tests.cloud.edge import OriginRequest

        skipped = edge._api_gateway(
            origin["DomainName"],
            OriginRequest("GET", origin["OriginPath"] + "/api/health", "",
                          {"x-forwarded-for": "203.0.113.9", "host": origin["DomainName"]}, b""),
        )  # fmt: skip
        assert (skipped.status, json.loads(skipped.body)) == (403, {"message": "Forbidden"})
