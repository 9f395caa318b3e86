"""The arithmetic of the results: scores, ranks, ties, removals, and the experts' file."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from ballotbox.core.campaign import ListSpec
from hypothesis import given, settings
from hypothesis import strategies as st

from opstools.experts import ExpertsError, mean_scores, parse_experts
from opstools.invalidations import Removals
from opstools.scoring import Count, Method, MethodError, parse_method, rank_list
from opstools.tally import compute, scan
from opstools.verify import Auditor, load_auditor
from tests import resultskit as rk
from tests.votekit import campaign

IDS = ["a", "b", "c", "d"]
METHOD = parse_method({}, ["zh", "en"])
LISTS = [ListSpec("event", 1), ListSpec("highlight", 1)]
counts_st = st.lists(st.integers(0, 50), min_size=4, max_size=4)
scores_st = st.lists(st.integers(0, 100), min_size=4, max_size=4)


def _rank(valid: list[int], expert: list[int], method: Method = METHOD) -> list[str]:
    counts = {c: Count(v, 0) for c, v in zip(IDS, valid, strict=True)}
    scores = {c: Fraction(s) for c, s in zip(IDS, expert, strict=True)}
    return [row.id for row in rank_list(IDS, counts, scores, method)]


@given(counts_st, scores_st)
def test_default_method_is_half_and_half_of_max_normalised_votes(
    valid: list[int], expert: list[int]
) -> None:
    counts = {c: Count(v, 0) for c, v in zip(IDS, valid, strict=True)}
    scores = {c: Fraction(s) for c, s in zip(IDS, expert, strict=True)}
    rows = {r.id: r for r in rank_list(IDS, counts, scores, METHOD)}
    top = max(valid)
    for c, v, e in zip(IDS, valid, expert, strict=True):
        public = Fraction(100 * v, top) if top else Fraction(0)
        assert rows[c].public_score == public
        assert rows[c].final_score == (public + e) / 2
    assert sorted(r.rank for r in rows.values()) == [1, 2, 3, 4]


@given(counts_st, scores_st)
def test_ranks_follow_the_final_score(valid: list[int], expert: list[int]) -> None:
    counts = {c: Count(v, 0) for c, v in zip(IDS, valid, strict=True)}
    scores = {c: Fraction(s) for c, s in zip(IDS, expert, strict=True)}
    rows = rank_list(IDS, counts, scores, METHOD)
    assert [r.rank for r in rows] == [1, 2, 3, 4]
    assert all(a.final_score >= b.final_score for a, b in itertools.pairwise(rows))


@given(
    st.lists(st.integers(0, 3), min_size=4, max_size=4),
    st.lists(st.sampled_from([0, 50, 100]), min_size=4, max_size=4),
)
def test_ties_resolve_as_documented(valid: list[int], expert: list[int]) -> None:
    """Small ranges make ties common: the order is always the documented one."""
    counts = {c: Count(v, 0) for c, v in zip(IDS, valid, strict=True)}
    scores = {c: Fraction(e) for c, e in zip(IDS, expert, strict=True)}
    rows = rank_list(IDS, counts, scores, METHOD)
    keys = [(-r.final_score, -r.expert_score, -r.valid_votes, r.order) for r in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)  # the campaign order leaves no tie undecided


def test_ties_are_broken_by_expert_score_then_votes_then_order() -> None:
    # b and c: final 60 each; b has the higher expert score, so b first.
    assert _rank([100, 50, 70, 0], [0, 70, 50, 0])[:3] == ["b", "c", "a"]
    # Equal final and expert scores: more valid votes first (d before c).
    method = parse_method({"weights": {"public": 0, "expert": 1}}, [])
    assert _rank([10, 10, 20, 30], [50, 50, 50, 50], method) == ["d", "c", "a", "b"]
    # A full tie: campaign order decides (a before b).
    assert _rank([10, 10, 0, 0], [50, 50, 0, 0]) == ["a", "b", "c", "d"]
    # The configured tie-break replaces the default one.
    voted_first = parse_method({"tie_break": ["valid_votes", "expert_score"]}, [])
    assert _rank([100, 50, 70, 0], [0, 70, 50, 0], voted_first)[:2] == ["c", "b"]


def test_share_normalisation() -> None:
    method = parse_method({"normalisation": "share"}, [])
    counts = {"a": Count(3, 0), "b": Count(1, 0), "c": Count(0, 0), "d": Count(0, 0)}
    rows = {r.id: r for r in rank_list(IDS, counts, dict.fromkeys(IDS, Fraction(0)), method)}
    assert rows["a"].public_score == 75
    assert rows["b"].public_score == 25


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"weights": {"public": 0.7, "expert": 0.2}}, "weights"),
        ({"weights": {"public": 1.5, "expert": -0.5}}, "weights.public"),
        ({"weights": {"public": 1}}, "weights"),
        ({"weights": {"public": True, "expert": 0}}, "weights.public"),
        ({"normalisation": "median"}, "normalisation"),
        ({"tie_break": ["order"]}, "tie_break"),
        ({"tie_break": ["valid_votes", "valid_votes"]}, "tie_break"),
        ({"announce": {"zh": "一月"}}, "announce"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, object], key: str) -> None:
    with pytest.raises(MethodError) as err:
        parse_method(settings, ["zh", "en"])
    assert err.value.key == key


def test_decimal_weights_are_exact() -> None:
    method = parse_method({"weights": {"public": 0.3, "expert": 0.7}}, [])
    assert method.public_weight == Fraction(3, 10)
    assert method.to_json()["weights"] == {"public": 0.3, "expert": 0.7}


# ---------------------------------------------------------------------------
# The experts' file

CSV_IDS = ["e01", "e02"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("candidate,expert,score\ne01,x,50\nzz,x,50\n", 3, "unknown candidate 'zz'"),
        ("candidate,expert,score\ne01,x,50\ne02,x,5\ne01,x,60\n", 4, "duplicate"),
        ("candidate,expert,score\ne01,x,101\ne02,x,5\n", 2, "outside 0 to 100"),
        ("candidate,expert,score\ne01,x,-1\ne02,x,5\n", 2, "outside 0 to 100"),
        ("candidate,expert,score\ne01,x,fifty\ne02,x,5\n", 2, "not a number"),
        ("candidate,expert,score\ne01,x,NaN\ne02,x,5\n", 2, "not a number"),
        ("candidate,expert,score\ne01,x\n", 2, "three fields"),
        ("name,score\n", 1, "first line"),
        ("candidate,expert,score\ne01,x,50\ne02,x,50\ne01,y,50\n", None, "missing score"),
        ("candidate,expert,score\n", None, "no scores"),
    ],
)
def test_experts_errors_name_the_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(ExpertsError) as err:
        parse_experts(text, CSV_IDS)
    assert err.value.line == line
    assert words in str(err.value)
    assert "/" in str(err.value)  # the Chinese half follows


def test_experts_mean_is_exact_and_accepts_bom_and_decimals() -> None:
    text = "\ufeffcandidate,expert,score\r\ne01,x,50\r\ne01,y,55.5\r\ne02,x,0\r\ne02,y,100\r\n"
    means = mean_scores(parse_experts(text, CSV_IDS))
    assert means == {"e01": Fraction(1055, 20), "e02": Fraction(50)}


@given(
    st.lists(st.integers(0, 100), min_size=3, max_size=3),
    st.lists(st.integers(0, 100), min_size=3, max_size=3),
    st.randoms(use_true_random=False),
)
def test_experts_rows_in_any_order_give_the_same_scores(
    first: list[int], second: list[int], rnd: random.Random
) -> None:
    rows = rk.experts_csv({"e01": first, "e02": second}).splitlines()
    body = rows[1:]
    rnd.shuffle(body)
    shuffled = "\n".join([rows[0], *body])
    assert parse_experts(shuffled, CSV_IDS) == parse_experts("\n".join(rows), CSV_IDS)


# ---------------------------------------------------------------------------
# Whole tallies over a real signed ledger

LEDGER = rk.ledger({"e01": 9, "e02": 6, "h01": 4}, voters=2)
LEDGER_TEXT = [(i, json.dumps(line)) for i, line in enumerate(LEDGER, start=1)]
EXPERTS = mean_scores(
    parse_experts(
        rk.experts_csv({"e01": [40, 60], "e02": [90, 70], "h01": [10, 20]}), ["e01", "e02", "h01"]
    )
)


@pytest.fixture(scope="module")
def auditor_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = rk.write_inputs(tmp_path_factory.mktemp("campaign"))["campaign"]
    return path


def _tally(auditor: Auditor, lines: list[tuple[int, str]], removals: Removals) -> dict[str, Any]:
    result = scan(lines, auditor, removals)
    return compute(
        result,
        campaign=campaign(),
        lists=LISTS,
        method=METHOD,
        expert_scores=EXPERTS,
        removals=removals,
    )


@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_tally_does_not_depend_on_the_order_of_votes(
    auditor_path: Path, rnd: random.Random
) -> None:
    shuffled = [*LEDGER_TEXT]
    rnd.shuffle(shuffled)
    baseline = _tally(load_auditor(auditor_path), LEDGER_TEXT, Removals())
    assert _tally(load_auditor(auditor_path), shuffled, Removals()) == baseline
    assert baseline["ledger"]["counted"] == len(LEDGER)


@settings(max_examples=20, deadline=None)
@given(st.sets(st.integers(0, len(LEDGER) - 1)))
def test_removals_only_ever_lower_valid_counts(auditor_path: Path, removed: set[int]) -> None:
    removals = Removals({LEDGER[i]["vote_id"]: ("test",) for i in removed})
    before = _tally(load_auditor(auditor_path), LEDGER_TEXT, Removals())
    after = _tally(load_auditor(auditor_path), LEDGER_TEXT, removals)
    valid_before = {c["id"]: c for lst in before["lists"] for c in lst["candidates"]}
    for lst in after["lists"]:
        for c in lst["candidates"]:
            assert c["valid_votes"] <= valid_before[c["id"]]["valid_votes"]
            assert c["raw_votes"] == valid_before[c["id"]]["raw_votes"]
            assert c["valid_votes"] == c["raw_votes"] - c["removed_votes"]
    assert after["ledger"]["removed"] == len(removed)
    # The Merkle root covers the whole ledger, removed votes included.
    assert after["merkle"] == before["merkle"]


def test_votes_that_fail_verify_never_count(auditor_path: Path) -> None:
    forged = dict(LEDGER[0], candidate="e02")  # the ballot still says e01
    lines = [*LEDGER_TEXT, (99, json.dumps(forged)), (100, "not json")]
    result = _tally(load_auditor(auditor_path), lines, Removals())
    assert result["ledger"]["counted"] == len(LEDGER)
    assert len(result["ledger"]["rejected"]) == 2
    assert "ballot candidate differs" in result["ledger"]["rejected"][0]
