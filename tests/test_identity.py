"""Identity modes, proof of work, WeChat sign-in and per-network limits (README "Identity modes").

Pure parts with Hypothesis; the API sans-I/O with a real SQLite store and the real
WeChat client against a fake WeChat on 127.0.0.1 (tests/fake_wechat.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ballotbox.core.campaign import Campaign, CampaignError
from ballotbox.core.errors import (
    CredentialExpired,
    CredentialInvalid,
    ProofExpired,
    ProofInvalid,
    Unavailable,
    WeChatCodeInvalid,
)
from ballotbox.core.identity import (
    CHALLENGE_SECONDS,
    Mode,
    TokenBox,
    check_credential,
    check_proof,
    issue_challenge,
    issue_credential,
    leading_zero_bits,
    solve,
    work_digest,
)
from ballotbox.core.ratelimit import NetworkLimiter
from ballotbox.http import STATUS, Api, Request
from ballotbox.stores.sqlite import SqliteStore
from ballotbox.wechat import WeChatOAuth
from hypothesis import given
from hypothesis import strategies as st

from tests import votekit
from tests.fake_wechat import APPID, SECRET, FakeWeChat, fake_wechat
from tests.votekit import INSIDE, Voter

JSON = {"content-type": "application/json"}
BOX = TokenBox(b"k" * 32)
NOW = INSIDE.timestamp()
KEY = Voter().public


def policy_campaign(**identity: Any) -> Campaign:
    data = votekit.campaign_dict(cap=2)
    data["identity"] = identity
    return Campaign.from_dict(data)


# -- pure: tokens, work, credentials, buckets ----------------------------------------------


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=10), max_size=5))
def test_sealed_tokens_open_to_their_payload(payload: dict[str, Any]) -> None:
    assert BOX.open("credential", BOX.seal("credential", payload)) == payload


@given(st.binary(min_size=1, max_size=40), st.integers(0, 7))
def test_any_tampering_or_other_kind_or_key_is_refused(noise: bytes, flip: int) -> None:
    token = BOX.seal("credential", {"k": KEY})
    body, mac = token.split(".")
    with pytest.raises(ValueError, match="MAC"):
        BOX.open("challenge", token)
    with pytest.raises(ValueError, match="MAC"):
        TokenBox(b"x" * 32).open("credential", token)
    forged = BOX.seal("credential", {"k": KEY, "n": noise.hex()})
    with pytest.raises(ValueError, match="MAC"):
        BOX.open("credential", forged.split(".")[0] + "." + mac)
    with pytest.raises(ValueError, match=r"base64url|MAC"):
        BOX.open("credential", body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac)


@given(st.binary(min_size=32, max_size=32))
def test_leading_zero_bits_matches_the_integer_definition(digest: bytes) -> None:
    value = int.from_bytes(digest, "big")
    assert leading_zero_bits(digest) == 256 - value.bit_length()


def test_a_solved_proof_is_accepted_in_one_hash() -> None:
    ch = issue_challenge(BOX, campaign="c", voter=KEY, bits=10, now=NOW)
    solution = solve(ch.token, ch.bits)
    check_proof(BOX, f"{ch.token}:{solution}", campaign="c", voter=KEY, now=NOW + 1)


def test_underworked_forged_expired_and_foreign_proofs_are_refused() -> None:
    ch = issue_challenge(BOX, campaign="c", voter=KEY, bits=12, now=NOW)
    lazy = next(
        str(n) for n in range(10**6) if leading_zero_bits(work_digest(ch.token, str(n))) < 12
    )
    with pytest.raises(ProofInvalid):  # underworked
        check_proof(BOX, f"{ch.token}:{lazy}", campaign="c", voter=KEY, now=NOW)
    easy = issue_challenge(TokenBox(b"z" * 32), campaign="c", voter=KEY, bits=1, now=NOW)
    with pytest.raises(ProofInvalid):  # sealed by someone else (forged difficulty)
        check_proof(BOX, f"{easy.token}:{solve(easy.token, 1)}", campaign="c", voter=KEY, now=NOW)
    good = f"{ch.token}:{solve(ch.token, 12)}"
    with pytest.raises(ProofExpired):
        check_proof(BOX, good, campaign="c", voter=KEY, now=NOW + CHALLENGE_SECONDS)
    with pytest.raises(ProofInvalid):  # another key cannot use it
        check_proof(BOX, good, campaign="c", voter=Voter().public, now=NOW)
    with pytest.raises(ProofInvalid):  # nor another campaign
        check_proof(BOX, good, campaign="other", voter=KEY, now=NOW)
    for junk in ("", "no-colon", f"{ch.token}:", ":1", f"{ch.token}:{'9' * 40}"):
        with pytest.raises(ProofInvalid):
            check_proof(BOX, junk, campaign="c", voter=KEY, now=NOW)


def test_credentials_are_bound_to_campaign_mode_key_and_time() -> None:
    cred = issue_credential(
        BOX, campaign="c", mode="wechat", voter=KEY, person="wx:abc", now=NOW, lifetime_s=60
    )
    ok = check_credential(BOX, cred.token, campaign="c", mode="wechat", voter=KEY, now=NOW)
    assert (ok.mode, ok.person) == ("wechat", "wx:abc")
    cases: tuple[tuple[str, Mode, str], ...] = (
        ("other", "wechat", KEY),  # cross-campaign
        ("c", "device+pow", KEY),  # another mode
        ("c", "wechat", Voter().public),  # replayed by another key
    )
    for campaign, mode, voter in cases:
        with pytest.raises(CredentialInvalid):
            check_credential(BOX, cred.token, campaign=campaign, mode=mode, voter=voter, now=NOW)
    forged = issue_credential(
        TokenBox(b"f" * 32), campaign="c", mode="wechat", voter=KEY, person="wx:a", now=NOW,
        lifetime_s=60,
    )  # fmt: skip
    with pytest.raises(CredentialInvalid):  # forged: sealed with another key
        check_credential(BOX, forged.token, campaign="c", mode="wechat", voter=KEY, now=NOW)
    with pytest.raises(CredentialExpired):
        check_credential(BOX, cred.token, campaign="c", mode="wechat", voter=KEY, now=NOW + 60)


@given(
    st.integers(1, 50),
    st.integers(1, 600),
    st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=200),
)
def test_a_bucket_never_allows_more_than_burst_plus_refill(
    burst: int, per_minute: int, gaps: list[float]
) -> None:
    limiter = NetworkLimiter(burst, per_minute)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        wait = limiter.take("net", now)
        allowed += wait == 0
        assert wait >= 0
    assert allowed <= burst + now * per_minute / 60 + 1e-9


def test_a_bucket_refuses_with_the_wait_then_refills() -> None:
    limiter = NetworkLimiter(3, 60)  # one token a second
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == pytest.approx(1.0)
    assert limiter.take("b", 0.0) == 0.0  # another network is untouched
    assert limiter.take("a", 1.0) == 0.0
    assert NetworkLimiter.retry_after(0.2) == 1


def test_bad_identity_blocks_are_deployment_errors() -> None:
    for block in ({"mode": "captcha"}, {"mode": "wechat"}, {"mode": "device", "pow_difficulty": 0}):
        with pytest.raises(CampaignError):
            policy_campaign(**block)
    assert Campaign.from_dict(votekit.campaign_dict()).identity.mode == "device"


# -- the API, sans I/O, on a real SQLite store ---------------------------------------------


class Client:
    def __init__(self, api: Api) -> None:
        self.api = api

    def call(
        self, method: str, path: str, body: bytes = b"", query: str = "", ip: str = "203.0.113.7",
        **headers: str,
    ) -> tuple[int, dict[str, str], dict[str, Any]]:  # fmt: skip
        response = self.api.handle(Request(method, path, query, {**JSON, **headers}, body, ip))
        return response.status, response.headers, json.loads(response.body)

    def credential(self, voter: Voter, **fields: str) -> dict[str, Any]:
        headers = {k: v for k, v in fields.items() if k == "x-proof-of-work"}
        body = json.dumps(
            {"voter": voter.public, **{k: v for k, v in fields.items() if k not in headers}}
        ).encode()
        status, _, data = self.call("POST", "/api/credential", body, **headers)
        assert status == 200, data
        return data

    def vote(self, voter: Voter, token: str | None, candidate: str = "e01") -> tuple[int, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        status, _, data = self.call("POST", "/api/vote", voter.vote_body(candidate), **headers)
        return status, data


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Any]:
    stores: list[SqliteStore] = []
    clock = {"now": INSIDE}

    def make(campaign: Campaign, **kw: Any) -> Client:
        store = SqliteStore(tmp_path / f"votes{len(stores)}.sqlite3")
        stores.append(store)
        api = Api(
            campaign=campaign, signer=votekit.signer(), hasher=votekit.hasher(), store=store,
            clock=lambda: clock["now"], **kw,
        )  # fmt: skip
        client = Client(api)
        client.clock = clock  # type: ignore[attr-defined]
        return client

    yield make
    for s in stores:
        s.close()


def test_device_mode_has_no_identity_routes(make_api: Any) -> None:
    client = make_api(votekit.campaign())
    for method, path in (("GET", "/api/challenge"), ("POST", "/api/credential")):
        status, _, data = client.call(method, path, query=f"voter={KEY}")
        assert (status, data["error"]) == (404, "not_found")
    assert client.vote(Voter(), None)[0] == 200


def test_pow_mode_end_to_end(make_api: Any) -> None:
    client = make_api(policy_campaign(mode="device+pow", pow_difficulty=8))
    voter = Voter()
    status, data = client.vote(voter, None)
    assert (status, data["error"]) == (403, "proof_required")
    status, _, ch = client.call("GET", "/api/challenge", query=f"voter={voter.public}")
    assert status == 200
    assert ch["difficulty"] == 8
    assert ch["expires"].endswith("+08:00")
    body = json.dumps({"voter": voter.public}).encode()
    status, _, data = client.call("POST", "/api/credential", body)
    assert (status, data["error"]) == (403, "proof_required")
    status, _, data = client.call(
        "POST", "/api/credential", body, **{"x-proof-of-work": f"{ch['challenge']}:0x"}
    )
    assert (status, data["error"]) == (401, "proof_invalid")
    proof = f"{ch['challenge']}:{solve(ch['challenge'], 8)}"
    cred = client.credential(voter, **{"x-proof-of-work": proof})
    assert cred["mode"] == "device+pow"
    assert client.vote(voter, cred["credential"])[0] == 200
    assert client.vote(voter, cred["credential"])[0] == 200  # no second proof
    status, data = client.vote(voter, cred["credential"])
    assert (status, data["error"]) == (429, "daily_limit_reached")  # cap 2, per key
    status, data = client.vote(Voter(), cred["credential"])  # another key, same credential
    assert (status, data["error"]) == (401, "credential_invalid")
    vote = next(client.api.store.iter_votes())
    assert (vote.identity, vote.person) == ("device+pow", "")


def test_a_pow_credential_lasts_one_beijing_day_at_most(make_api: Any) -> None:
    client = make_api(policy_campaign(mode="device+pow", pow_difficulty=4))
    voter = Voter()
    client.clock["now"] = datetime.fromisoformat("2021-12-30T23:00:00+08:00")
    ch = client.call("GET", "/api/challenge", query=f"voter={voter.public}")[2]
    cred = client.credential(
        voter, **{"x-proof-of-work": f"{ch['challenge']}:{solve(ch['challenge'], 4)}"}
    )
    # One proof buys today's votes for this key, never the rest of the campaign.
    assert cred["expires"] == "2021-12-31T00:00:00.000+08:00"
    client.clock["now"] = datetime.fromisoformat("2021-12-30T23:59:59+08:00")
    assert client.vote(voter, cred["credential"])[0] == 200
    client.clock["now"] = datetime.fromisoformat("2021-12-31T00:00:00+08:00")
    status, data = client.vote(voter, cred["credential"])
    assert (status, data["error"]) == (401, "credential_expired")


@pytest.mark.parametrize(
    "body",
    [b"[" * 4000, b'{"voter":' * 450, b'{"voter":"a","voter":"b"}', b'{"voter": NaN}'],
)
def test_credential_bodies_nested_deep_or_with_duplicate_keys_are_400(
    make_api: Any, body: bytes
) -> None:
    client = make_api(policy_campaign(mode="device+pow", pow_difficulty=4))
    if b'"a"' in body:  # the duplicate with real keys: last-one-wins would pick a valid one
        body = body.replace(b'"a"', json.dumps(KEY).encode()).replace(
            b'"b"', json.dumps(Voter().public).encode()
        )
    status, _, data = client.call("POST", "/api/credential", body)
    assert (status, data["error"]) == (400, "malformed_request")
    assert data["message"]["zh"]
    assert data["message"]["en"]


def test_a_vote_with_issued_at_far_from_the_window_is_400(make_api: Any) -> None:
    client = make_api(votekit.campaign())
    body = Voter().vote_body("e01", issued_at="2026-12-02T05:00:00Z")
    status, _, data = client.call("POST", "/api/vote", body)
    assert (status, data["error"]) == (400, "malformed_request")
    assert "issued_at" in data["message"]["en"]
    assert list(client.api.store.iter_votes()) == []


def test_pow_difficulty_changes_at_run_time(make_api: Any) -> None:
    bits = {"now": 5}
    client = make_api(policy_campaign(mode="device+pow"), pow_bits=lambda: bits["now"])
    assert client.call("GET", "/api/challenge", query=f"voter={KEY}")[2]["difficulty"] == 5
    bits["now"] = 9
    assert client.call("GET", "/api/challenge", query=f"voter={KEY}")[2]["difficulty"] == 9


def test_expired_proof_and_expired_credential(make_api: Any) -> None:
    client = make_api(policy_campaign(mode="device+pow", pow_difficulty=4))
    voter = Voter()
    ch = client.call("GET", "/api/challenge", query=f"voter={voter.public}")[2]
    proof = f"{ch['challenge']}:{solve(ch['challenge'], 4)}"
    client.clock["now"] = INSIDE + timedelta(seconds=CHALLENGE_SECONDS)
    body = json.dumps({"voter": voter.public}).encode()
    status, _, data = client.call("POST", "/api/credential", body, **{"x-proof-of-work": proof})
    assert (status, data["error"]) == (401, "proof_expired")


class OneUserExchange:
    """A fake exchange: every code is this OpenID (WeChat itself is tested below)."""

    def __init__(self, openid: str) -> None:
        self.openid_value = openid

    def openid(self, code: str) -> str:
        return self.openid_value


def test_wechat_mode_counts_the_person_not_the_key(make_api: Any) -> None:
    campaign = policy_campaign(mode="wechat", wechat_appid=APPID, credential_minutes=30)
    client = make_api(campaign, wechat=OneUserExchange("oAlice"))
    phone, second_phone = Voter(), Voter()
    status, data = client.vote(phone, None)
    assert (status, data["error"]) == (401, "credential_missing")
    status, headers, data = client.call("GET", "/api/status", query=f"voter={phone.public}")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    first = client.credential(phone, code="c1")["credential"]
    assert client.vote(phone, first)[0] == 200
    assert client.vote(phone, first, "e02")[0] == 200
    # The same person, a new key (cleared storage, a second phone): still one voter.
    second = client.credential(second_phone, code="c2")["credential"]
    assert client.vote(second_phone, second)[0] == 200
    status, data = client.vote(second_phone, second)
    assert (status, data["error"]) == (429, "daily_limit_reached")
    status, _, report = client.call(
        "GET", "/api/status", query=f"voter={second_phone.public}", authorization=f"Bearer {second}"
    )
    assert report["votes_left"] == {"e01": 0, "e02": 1, "h01": 2}
    persons = {v.person for v in client.api.store.iter_votes()}
    assert len(persons) == 1
    assert next(iter(persons)).startswith("wx:")
    assert "oAlice" not in json.dumps([v.person for v in client.api.store.iter_votes()])
    # Expired credential.
    client.clock["now"] = INSIDE + timedelta(minutes=30)
    status, data = client.vote(phone, first, "h01")
    assert (status, data["error"]) == (401, "credential_expired")


def test_a_credential_from_another_campaign_is_refused(make_api: Any) -> None:
    here = make_api(policy_campaign(mode="wechat", wechat_appid=APPID), wechat=OneUserExchange("o"))
    data = votekit.campaign_dict()
    data.update(id="another-2021", identity={"mode": "wechat", "wechat_appid": APPID})
    there = make_api(Campaign.from_dict(data), wechat=OneUserExchange("o"))
    voter = Voter()
    foreign = there.credential(voter, code="x")["credential"]
    status, data = here.vote(voter, foreign)
    assert (status, data["error"]) == (401, "credential_invalid")


def test_the_network_limit_answers_429_with_retry_after(make_api: Any) -> None:
    client = make_api(policy_campaign(mode="device", network_burst=3, network_per_minute=6))
    answers = [client.call("GET", "/api/status", query=f"voter={KEY}") for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 200, 429]
    assert answers[3][2]["error"] == "network_limited"
    assert answers[3][1]["Retry-After"] == "10"
    assert set(answers[3][2]["message"]) == {"zh", "en"}
    # Another /24 is not affected; health is never limited.
    assert client.call("GET", "/api/status", query=f"voter={KEY}", ip="198.51.100.9")[0] == 200
    assert client.call("GET", "/api/health")[0] == 200


def test_every_new_code_is_in_the_one_table_with_both_languages() -> None:
    codes = {cls.code: status for cls, status in STATUS.items()}
    expected = {
        "credential_missing": 401, "credential_invalid": 401, "credential_expired": 401,
        "proof_invalid": 401, "proof_expired": 401, "wechat_code_invalid": 401,
        "proof_required": 403, "network_limited": 429,
    }  # fmt: skip
    assert {c: codes[c] for c in expected} == expected
    for cls in STATUS:
        assert cls.zh
        assert cls.en
        assert cls.zh != cls.en


# -- the real WeChat client against the fake WeChat ----------------------------------------


@pytest.fixture
def wechat() -> Iterator[FakeWeChat]:
    with fake_wechat() as fake:
        yield fake


def test_the_code_exchange_and_its_error_codes(wechat: FakeWeChat) -> None:
    client = WeChatOAuth(APPID, SECRET, base_url=wechat.url)
    code = wechat.issue("oBob")
    assert client.openid(code) == "oBob"
    with pytest.raises(WeChatCodeInvalid, match="40163"):  # a code is good once
        client.openid(code)
    with pytest.raises(WeChatCodeInvalid, match="40029"):
        client.openid("forged-code")
    with pytest.raises(Unavailable, match="40125"):  # our misconfiguration: a 503
        WeChatOAuth(APPID, "wrong", base_url=wechat.url).openid(wechat.issue())
    wechat.busy = True
    with pytest.raises(Unavailable, match="-1"):
        client.openid(wechat.issue())
    with pytest.raises(Unavailable):  # nobody listening
        WeChatOAuth(APPID, SECRET, base_url="http://127.0.0.1:9", timeout=1).openid("c")


def test_wechat_sign_in_through_the_api(make_api: Any, wechat: FakeWeChat) -> None:
    campaign = policy_campaign(mode="wechat", wechat_appid=APPID)
    client = make_api(campaign, wechat=WeChatOAuth(APPID, SECRET, base_url=wechat.url))
    voter = Voter()
    code = wechat.issue("oCarol")
    token = client.credential(voter, code=code)["credential"]
    assert client.vote(voter, token)[0] == 200
    body = json.dumps({"voter": voter.public, "code": code}).encode()
    status, _, data = client.call("POST", "/api/credential", body)  # the code, replayed
    assert (status, data["error"]) == (401, "wechat_code_invalid")
    person = next(client.api.store.iter_votes()).person
    assert person == votekit.hasher().person("oCarol")
    assert "oCarol" not in person


def test_the_credential_travels_in_its_own_header_past_an_edge_signature(make_api: Any) -> None:
    """docs/http-api.md: X-Vote-Credential; CloudFront's OAC puts its SigV4 in Authorization."""
    campaign = policy_campaign(mode="wechat", wechat_appid=APPID, credential_minutes=30)
    client = make_api(campaign, wechat=OneUserExchange("oAlice"))
    phone = Voter()
    token = client.credential(phone, code="c1")["credential"]
    sigv4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20211230/us-east-1/lambda/aws4_request"
    body = phone.vote_body("e01")
    status, _, data = client.call(
        "POST", "/api/vote", body, **{"x-vote-credential": token, "authorization": sigv4}
    )
    assert status == 200, data
    # The edge's signature alone is no credential (and no malformed Bearer either).
    status, _, data = client.call("POST", "/api/vote", phone.vote_body("e02"), authorization=sigv4)
    assert (status, data["error"]) == (401, "credential_missing")
    status, _, report = client.call(
        "GET", "/api/status", query=f"voter={phone.public}", **{"x-vote-credential": token}
    )
    assert status == 200
    assert report["votes_left"]["e01"] == report["votes_left"]["e02"] - 1
