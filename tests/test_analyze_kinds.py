"""ops.py analyze: device evidence apart from addresses, fusion of kinds, network-free rosters.

Small crafted logs (the builder of tests/test_analyze_layers.py), read from real files and
analysed by the real layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from opstools.analyze.fuse import DEVICE, NETWORK, TIME, Findings, analyze, is_roster
from opstools.analyze.load import VoteTable, read_votes
from opstools.analyze.population import analyse_population
from tests.test_analyze_layers import DAY, DAY0, HOUR, Log

Tags = npt.NDArray[np.str_]
RARE_UA = "KitBrowser/0.9 (build 7731)"


def table_of(log: Log, tmp_path: Path, name: str = "log.jsonl") -> tuple[VoteTable, Tags]:
    """The log written to a file and read back, with each vote's tag in table order."""
    table, bad = read_votes(log.write(tmp_path / name))
    assert not bad
    tags = np.array([log.tags[v] for v in table.vote_id.to_list()])
    return table, tags


def organic_ua(r: np.random.Generator) -> str:
    """A User-Agent drawn from the organic voters' phone mix (Log.organic)."""
    return f"phone{int(r.zipf(1.5)) % 60}"


def carrier(r: np.random.Generator) -> str:
    """A carrier network drawn as Log.organic draws them: hundreds of voters share each."""
    return f"carrier{int(r.zipf(1.6)) % 40}"


def test_a_crowd_carrying_one_string_nobody_else_uses_is_device_evidence(
    tmp_path: Path,
) -> None:
    """Fresh identities spread over carrier networks: only the User-Agent gives them away."""
    log = Log(21)
    log.organic(voters=800, days=3)
    r = log.rng
    for i in range(60):
        t = DAY0 + DAY + 15 * HOUR + int(r.integers(0, 3 * HOUR))
        log.person(f"kit{i}", "event-02", t, int(r.integers(1, 6)), f"carrier{i % 40}",
                   RARE_UA, "kit")  # fmt: skip
    # The same crowd size for another candidate on another day, with the organic phone mix.
    for i in range(60):
        t = DAY0 + 2 * DAY + 15 * HOUR + int(r.integers(0, 3 * HOUR))
        log.person(f"mix{i}", "event-05", t, int(r.integers(1, 6)), f"carrier{i % 40}",
                   organic_ua(r), "mix")  # fmt: skip
    table, tags = table_of(log, tmp_path)
    pop = analyse_population(table)
    np.testing.assert_array_equal(pop.crowd_ua_flag, tags == "kit")
    # One or two per network: no (candidate, day, network, UA) cell could have seen it.
    assert not pop.cell_flag[tags == "kit"].any()
    ((cand, day, ua), (k, m, lam, log10p)) = next(iter(pop.crowd_ua.items()))
    assert len(pop.crowd_ua) == 1
    assert (table.cand_names[cand], day) == ("event-02", 1)
    assert k == 60
    assert m >= k
    assert k >= 50 * lam
    assert log10p >= 10
    assert int(table.ua[tags == "kit"][0]) == ua


def proxy_crowd(
    tmp_path: Path, ua: str | None, n: int = 60, pooled: int = 60
) -> tuple[Findings, Tags]:
    """A one-off crowd: one day, one candidate, within minutes; ``pooled`` of its ``n``
    identities come through a proxy pool whose addresses are each shared by 2-3 of them
    and by nobody else, the rest through the carrier networks everybody uses.

    ``ua`` is the string every identity carries, or None for the organic phone mix.
    """
    log = Log(22)
    log.organic(voters=800, days=3)
    r = log.rng
    for i in range(n):
        t = DAY0 + DAY + 16 * HOUR + int(r.integers(0, 6 * 60_000))
        net = f"proxy{i % (pooled * 2 // 5)}" if i < pooled else carrier(r)
        tag = "proxy" if i < pooled else "crowd"
        log.person(f"px{i}", "event-03", t, int(r.integers(1, 6)), net, ua or organic_ua(r), tag)
    table, tags = table_of(log, tmp_path)
    return analyze(table), tags


def test_proxy_addresses_and_a_rare_string_together_remove_a_one_off_crowd(
    tmp_path: Path,
) -> None:
    f, tags = proxy_crowd(tmp_path, RARE_UA)
    crowd = np.flatnonzero(tags == "proxy")
    assert f.pop.private_flag[crowd].all()
    assert (f.level[crowd] == 2).all()
    assert not (f.level[tags != "proxy"] == 2).any()
    assert ((f.kinds[crowd] & NETWORK) > 0).all()
    assert ((f.kinds[crowd] & DEVICE) > 0).all()
    case = f.cases[int(f.case_of[crowd[0]])]
    assert case.action == "remove"
    strong = {e["kind"] for e in case.evidence if e["strength"] == "strong"}
    assert {"network", "device"} <= strong
    crowd_item = [e for e in case.evidence if "carry one User-Agent string" in e["en"]]
    assert crowd_item
    assert crowd_item[0]["kind"] == "device"
    assert crowd_item[0]["figure"]["voters"] == 60


def test_a_burst_made_almost_entirely_of_proxy_addresses_is_removed(tmp_path: Path) -> None:
    """Ordinary phones, by hand, once: but every identity of the burst comes through the
    pool, which no real crowd does (it carries the population's mix of networks), so the
    burst is the pool's episode and its timing a second kind."""
    f, tags = proxy_crowd(tmp_path, None)
    crowd = tags == "proxy"
    assert f.pop.private_flag[crowd].all()
    assert not f.pop.crowd_ua_flag.any()
    assert not ((f.kinds[crowd] & DEVICE) > 0).any()
    assert (f.strong[crowd] & TIME).all()
    assert (f.level[crowd] == 2).all()
    assert not (f.level[~crowd] == 2).any()


def test_a_crowd_partly_on_proxy_addresses_is_only_reviewed(tmp_path: Path) -> None:
    """One strong kind beside a burst that it does not make up: what a real crowd with some
    people on home networks can produce, so review."""
    f, tags = proxy_crowd(tmp_path, None, n=120, pooled=40)
    pooled = tags == "proxy"
    assert f.pop.private_flag[pooled].all()  # the addresses still speak
    assert (f.level[pooled] == 1).all()
    assert not (f.level == 2).any()


def test_an_assembly_on_one_network_with_ordinary_phones_is_not_removed(
    tmp_path: Path,
) -> None:
    """Hundreds of real people on one network within ten minutes, for one candidate."""
    log = Log(23)
    log.organic(voters=800, days=3)
    r = log.rng
    for i in range(300):
        t = DAY0 + DAY + 10 * HOUR + int(r.integers(0, 10 * 60_000))
        log.person(f"pupil{i}", "event-04", t, int(r.integers(1, 6)), "school", organic_ua(r),
                   "assembly")  # fmt: skip
    table, tags = table_of(log, tmp_path)
    f = analyze(table)
    assembly = tags == "assembly"
    # It is seen (a burst on its candidate), and neither its one network nor its phones
    # are evidence against it.
    assert any(table.cand_names[w.candidate] == "event-04" and w.kind == "burst"
               for w in f.windows)  # fmt: skip
    assert not ((f.kinds[assembly] & (NETWORK | DEVICE)) > 0).any()
    assert not (f.level == 2).any()


@pytest.fixture(scope="module")
def rack_and_fans(tmp_path_factory: pytest.TempPathFactory) -> tuple[VoteTable, Tags, Findings]:
    """A rack of devices behind carrier NAT, and a fan club's daily reminder, over 8 days."""
    log = Log(24)
    log.organic(voters=1500, days=8)
    r = log.rng
    # The rack: 80 devices, each on a carrier network hundreds of real voters use and with
    # an ordinary phone string, voting the cap for event-02 at about the same minutes on
    # six days, nearly all of them each time, at a person's pace.
    nets = [carrier(r) for _ in range(80)]
    uas = [organic_ua(r) for _ in range(80)]
    for d in range(1, 7):
        t0 = DAY0 + d * DAY + 14 * HOUR + int(r.integers(0, 3 * 60_000))
        for i in range(80):
            if r.random() < 0.05:
                continue
            t = t0 + int(r.integers(0, 4 * 60_000))
            log.person(f"dev{i}", "event-02", t, 5, nets[i], uas[i], "rack", gap=(1_500, 4_000))
    # The fan club: 150 members, each day about half of them, within the hour after the
    # 20:00 reminder (most soon after it).
    fnets = [carrier(r) for _ in range(150)]
    fuas = [organic_ua(r) for _ in range(150)]
    for d in range(8):
        for i in range(150):
            if r.random() < 0.5:
                continue
            t = DAY0 + d * DAY + 20 * HOUR + min(int(r.exponential(12 * 60_000)), HOUR - 60_000)
            log.person(f"fan{i}", "event-05", t, 5, fnets[i], fuas[i], "fans", gap=(1_500, 4_000))
    table, tags = table_of(log, tmp_path_factory.mktemp("rack"))
    return table, tags, analyze(table)


def test_a_rack_behind_carrier_networks_is_a_roster_and_removed(
    rack_and_fans: tuple[VoteTable, Tags, Findings],
) -> None:
    table, tags, f = rack_and_fans
    rack = tags == "rack"
    devices = np.unique(table.voter[rack])
    (grp,) = [g for g in f.groups if np.isin(devices, g.members).mean() >= 0.9]
    assert is_roster(grp)
    assert [table.cand_names[c] for c in grp.candidates] == ["event-02"]
    assert grp.days_together >= 6
    # Through many networks: no single (candidate, bucket, network) cell holds the group.
    assert grp.nets >= 5
    assert (f.level[rack] == 2).mean() >= 0.95
    assert not (f.level[tags == "organic"] == 2).any()


def test_a_fan_clubs_daily_reminder_is_a_weak_group_and_not_removed(
    rack_and_fans: tuple[VoteTable, Tags, Findings],
) -> None:
    table, tags, f = rack_and_fans
    fans = tags == "fans"
    members = np.unique(table.voter[fans])
    club = [g for g in f.groups if np.isin(g.members, members).any()]
    assert club  # seen together (coordination), but weak
    for g in club:
        assert not is_roster(g)
        assert g.attendance < 0.8
    assert not (f.level[fans] == 2).any()


def test_a_voters_decoy_votes_join_the_case_of_its_target(tmp_path: Path) -> None:
    """A rack's identities vote for their target and once each for a decoy spread over the
    other candidates: one episode, so its flagged votes make one case per action, not one
    case per decoy candidate."""
    log = Log(23)
    log.organic(voters=800, days=3)
    r = log.rng
    decoys = ["event-01", "event-02", "event-04", "event-05", "event-06", "event-07"]
    for i in range(60):
        t = DAY0 + DAY + 16 * HOUR + int(r.integers(0, 6 * 60_000))
        net = f"proxy{i % 24}"
        # Scripted taps: the pace gives every vote of the identity away, decoys included.
        log.person(f"px{i}", "event-03", t, 5, net, RARE_UA, "target", gap=(300, 320))
        log.person(f"px{i}", decoys[i % len(decoys)], t + 1_700, 1, net, RARE_UA, "decoy")
    table, tags = table_of(log, tmp_path)
    f = analyze(table)
    target = np.flatnonzero(tags == "target")
    decoy = np.flatnonzero(tags == "decoy")
    assert (f.level[target] == 2).all()
    flagged = decoy[f.level[decoy] > 0]
    assert len(flagged) == len(decoy)
    cases = {int(c) for c in f.case_of[np.concatenate([target, flagged])]}
    assert len(cases) <= 2  # one per action at most, not one per decoy candidate
    assert len({int(c) for c in f.case_of[flagged]}) == 1


def test_a_case_shows_the_strongest_items_of_a_type_and_counts_the_rest() -> None:
    """A hundred batches of one run are one finding for the committee, not a hundred."""
    from opstools.analyze.fuse import _strongest

    def item(kind: str, log10p: float, figure: dict[str, int]) -> dict[str, object]:
        return {"kind": kind, "organic_log10_p": log10p, "figure": figure}

    bursts = [item("time", float(i), {"votes": i}) for i in range(10)]
    other = [item("time", 2.0, {"batches": 5}), item("device", 9.0, {"voters": 3})]
    kept = _strongest([*bursts, *other])
    burst_kept = [k for k in kept if "votes" in k["figure"]]
    assert [k["organic_log10_p"] for k in burst_kept] == [9.0, 8.0, 7.0]
    assert burst_kept[-1]["more"] == 7
    assert "more" not in burst_kept[0]
    assert [k for k in kept if "votes" not in k["figure"]] == other


def test_an_assembly_carrying_a_few_popular_models_is_not_device_evidence(
    tmp_path: Path,
) -> None:
    """Company phones: hundreds of people on one network with three popular models. The
    models are common all over the campaign, so the crowd is no operator's string."""
    log = Log(24)
    log.organic(voters=1500, days=3)
    r = log.rng
    for i in range(300):
        t = DAY0 + DAY + 10 * HOUR + int(r.integers(0, 10 * 60_000))
        ua = ("phone1", "phone2", "phone3")[i % 3]
        log.person(f"staff{i}", "event-04", t, int(r.integers(1, 6)), "hall", ua, "staff")
    # The same crowd under a string the campaign never sees otherwise is the operator's.
    for i in range(300):
        t = DAY0 + 2 * DAY + 10 * HOUR + int(r.integers(0, 10 * 60_000))
        log.person(f"bot{i}", "event-05", t, int(r.integers(1, 6)), "rack", RARE_UA, "bot")
    table, tags = table_of(log, tmp_path)
    f = analyze(table)
    staff, bot = tags == "staff", tags == "bot"
    assert not f.pop.cell_flag[staff].any()
    assert not ((f.kinds[staff] & DEVICE) > 0).any()
    assert (f.level[staff] == 0).all()
    assert f.pop.cell_flag[bot].all()


def test_the_episode_rule_is_explained_in_the_case(tmp_path: Path) -> None:
    """A removal on a burst made of one anomaly says so, with its figures, in both languages."""
    f, tags = proxy_crowd(tmp_path, None)
    case = f.cases[int(f.case_of[np.flatnonzero(tags == "proxy")[0]])]
    assert case.action == "remove"
    (episode,) = [e for e in case.evidence if "share" in e["figure"] and e["kind"] == "time"]
    assert episode["strength"] == "strong"
    assert episode["figure"]["share"] >= 0.8
    assert "network anomaly" in episode["en"]
    assert "网络异常" in episode["zh"]
    assert episode["organic_log10_p"] > 6


def test_an_office_beside_a_proxy_pool_on_the_same_candidate_and_day_is_left_alone(
    tmp_path: Path,
) -> None:
    """A pool makes the (candidate, day) hot; the staff of an office voting for the same
    candidate that day sit on private networks too, but an office network carries many
    times the pool's typical address, and two networks are no pool."""
    log = Log(25)
    log.organic(voters=800, days=3)
    r = log.rng
    for i in range(200):
        t = DAY0 + DAY + 16 * HOUR + int(r.integers(0, 6 * HOUR))
        log.person(f"px{i}", "event-03", t, int(r.integers(1, 6)), f"proxy{i % 80}",
                   organic_ua(r), "proxy")  # fmt: skip
    for i in range(200):
        t = DAY0 + DAY + 10 * HOUR + int(r.integers(0, 30 * 60_000))
        log.person(f"staff{i}", "event-03", t, int(r.integers(1, 6)), f"office{i % 2}",
                   organic_ua(r), "staff")  # fmt: skip
    table, tags = table_of(log, tmp_path)
    f = analyze(table)
    staff = tags == "staff"
    assert f.pop.private_flag[tags == "proxy"].all()
    assert not f.pop.private_flag[staff].any()
    assert (f.level[staff] == 0).all()
