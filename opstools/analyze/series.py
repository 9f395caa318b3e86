"""Layer 1: each candidate's votes over time against its own daily rhythm and trend.

Expected votes in a 5-minute bin = the candidate's level that day x its share of the day in
that hour. The hourly shape is the median over days (so a one-day surge cannot teach the
baseline that it is normal), shrunk towards everybody's shape when the candidate is small.
The daily level is a weighted median of hour-by-hour ratios, so a surge of a few hours
does not raise its own baseline, while a whole day of more votes (the final-day push) does.
Bursts are runs of bins whose robust score is high; periodic batches are short spikes that
recur at a regular interval, confirmed by the periodogram and the autocorrelation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ballotbox.core.clock import BEIJING

from opstools.analyze.load import VoteTable

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

MIN_MS = 60_000
BIN_MS = 5 * MIN_MS
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: Beijing's offset in ms, from the one definition of +08:00 (ballotbox.core.clock).
BEIJING_MS = int(BEIJING.utcoffset(None).total_seconds()) * 1000
BINS_PER_DAY = DAY_MS // BIN_MS
NIGHT_HOURS = (1, 2, 3, 4, 5, 6)
# Overdispersion: real traffic is lumpier than Poisson (friends vote together).
PHI = 0.15
# A batch is looked for over 1, 3 and 5 minutes (see find_periodic).
BATCH_SCALES = (1, 3, 5)
COARSE_MIN_BATCHES = 10


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of time on one candidate where the series itself is abnormal."""

    candidate: int
    start_ms: int
    end_ms: int
    kind: str  # "burst" | "periodic" | "off_rhythm"
    evidence: dict[str, float | int | str | list[str]]
    # For periodic windows: the batch intervals [start, end) votes must fall in.
    spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Series:
    day0_ms: int  # epoch ms of the first Beijing midnight
    counts: F64  # (candidates, bins) votes per 5-minute bin
    expected: F64  # same shape: the baseline
    minute_counts: F64  # (candidates, minutes)


def num(evidence: dict[str, float | int | str | list[str]], key: str) -> float:
    """A numeric evidence figure (the dict also holds texts)."""
    v = evidence[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"evidence {key!r} is not a number: {v!r}")
    return float(v)


def beijing_day0(t_ms: I64) -> int:
    first = int(t_ms.min())
    return ((first + BEIJING_MS) // DAY_MS) * DAY_MS - BEIJING_MS


def weighted_median(values: F64, weights: F64) -> float:
    if weights.sum() <= 0:
        return 0.0
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cw, cw[-1] / 2)])


def baseline(counts: F64) -> F64:
    """Expected counts per 5-minute bin from each candidate's own daily rhythm and level."""
    n_c, n_bins = counts.shape
    n_days = n_bins // BINS_PER_DAY
    per_hour = counts.reshape(n_c, n_days, 24, 12).sum(axis=3)  # (c, day, hour)
    day_tot = per_hour.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = np.where(day_tot > 0, per_hour / day_tot, np.nan)
    everybody = per_hour.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        eprof = everybody / np.maximum(everybody.sum(axis=1, keepdims=True), 1)
    global_shape = np.nanmedian(
        np.where(everybody.sum(axis=1, keepdims=True) > 0, eprof, np.nan), axis=0
    )
    global_shape = np.nan_to_num(global_shape, nan=1 / 24) + 1e-3
    global_shape /= global_shape.sum()
    expected = np.zeros_like(counts)
    for c in range(n_c):
        full = day_tot[c, :, 0] > 0
        own = np.nanmedian(prof[c, full], axis=0) if full.any() else global_shape
        own = np.nan_to_num(own / max(own.sum(), 1e-9), nan=0.0)
        total = float(day_tot[c].sum())
        w = total / (total + 200.0 * max(n_days, 1))
        shape = w * own + (1 - w) * global_shape
        shape = np.maximum(shape, 0.25 * global_shape)
        shape /= shape.sum()
        for d in range(n_days):
            ratios = per_hour[c, d] / shape
            level = weighted_median(ratios, shape)
            expected[c, d * BINS_PER_DAY : (d + 1) * BINS_PER_DAY] = np.repeat(
                level * shape / 12, 12
            )
    return expected


def build_series(table: VoteTable) -> Series:
    day0 = beijing_day0(table.t_ms)
    n_days = int((table.t_ms.max() - day0) // DAY_MS) + 1
    n_c = len(table.cand_names)
    rel = table.t_ms - day0
    n_bins = n_days * BINS_PER_DAY
    idx = table.cand.astype(np.int64) * n_bins + rel // BIN_MS
    counts = np.bincount(idx, minlength=n_c * n_bins).reshape(n_c, n_bins).astype(np.float64)
    n_min = n_days * (DAY_MS // MIN_MS)
    midx = table.cand.astype(np.int64) * n_min + rel // MIN_MS
    minute = np.bincount(midx, minlength=n_c * n_min).reshape(n_c, n_min).astype(np.float64)
    return Series(day0, counts, baseline(counts), minute)


def zscore(obs: F64, exp: F64) -> F64:
    return (obs - exp) / np.sqrt(exp + (PHI * exp) ** 2 + 1.0)


def _runs(mask: npt.NDArray[np.bool_], max_gap: int) -> list[tuple[int, int]]:
    """[start, end) index runs of True, bridging gaps of up to max_gap False entries."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def find_bursts(s: Series) -> list[Window]:
    """Short runs of bins far above the candidate's baseline ("unreasonably fast growth")."""
    out: list[Window] = []
    z = zscore(s.counts, s.expected)
    for c in range(s.counts.shape[0]):
        hot = (z[c] >= 4.0) & (s.counts[c] - s.expected[c] >= 8)
        for a, b in _runs(hot, 1):
            # Widen to the shoulders: neighbouring bins still clearly above baseline.
            while a > 0 and z[c, a - 1] >= 2.0:
                a -= 1
            while b < len(z[c]) and z[c, b] >= 2.0:
                b += 1
            obs = float(s.counts[c, a:b].sum())
            exp = float(s.expected[c, a:b].sum())
            var = float((s.expected[c, a:b] + (PHI * s.expected[c, a:b]) ** 2 + 1.0).sum())
            excess = obs - exp
            seg_z = excess / np.sqrt(var)
            hours = (b - a) * BIN_MS / HOUR_MS
            if seg_z < 7 or excess < 50 or obs < 1.5 * exp or hours > 6:
                continue
            if out and out[-1].candidate == c and out[-1].end_ms >= s.day0_ms + a * BIN_MS:
                continue  # overlaps the previous run after widening
            peak = int(a + np.argmax(s.counts[c, a:b]))
            out.append(
                Window(
                    c, s.day0_ms + a * BIN_MS, s.day0_ms + b * BIN_MS, "burst",
                    {
                        "votes": int(obs),
                        "expected": round(exp, 1),
                        "excess": round(excess, 1),
                        "ratio": round(obs / max(exp, 1e-9), 1),
                        "score": round(float(seg_z), 1),
                        "minutes": int((b - a) * BIN_MS // MIN_MS),
                        "peak_per_5min": int(s.counts[c, peak]),
                    },
                )
            )  # fmt: skip
    return out


def _periodogram_peak(x: F64, lo: float, hi: float) -> tuple[float, float]:
    """Period (minutes) of the strongest periodogram peak in [lo, hi], and Fisher's g."""
    x = x - x.mean()
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), d=1.0)
    with np.errstate(divide="ignore"):
        periods = np.where(freqs > 0, 1 / np.maximum(freqs, 1e-12), np.inf)
    band = (periods >= lo) & (periods <= hi)
    if not band.any() or power[1:].sum() <= 0:
        return 0.0, 0.0
    k = int(np.flatnonzero(band)[np.argmax(power[band])])
    return float(periods[k]), float(power[k] / power[1:].sum())


def _acf(x: F64, lag: int) -> float:
    x = x - x.mean()
    den = float((x * x).sum())
    if den <= 0 or lag <= 0 or lag >= len(x):
        return 0.0
    return float((x[:-lag] * x[lag:]).sum() / den)


def _window_sums(x: F64, k: int) -> F64:
    """Sums over the k minutes centred on each minute (k odd), along the last axis."""
    if k == 1:
        return x
    c = np.cumsum(np.pad(x, ((0, 0), (k // 2 + 1, k // 2))), axis=1)
    out: F64 = c[:, k:] - c[:, :-k]
    return out


def _batch_minutes(counts: F64, exp_min: F64, k: int) -> npt.NDArray[np.bool_]:
    """Minutes inside a batch that stands out over k minutes (every minute of it marked)."""
    obs, exp = _window_sums(counts, k), _window_sums(exp_min, k)
    hit = (zscore(obs, exp) >= 5.0) & (obs - exp >= 6)
    marked: npt.NDArray[np.bool_] = _window_sums(hit.astype(np.float64), k) > 0
    return marked


def _trim(counts: F64, exp: F64, a: int, b: int) -> tuple[int, int]:
    """The batch's own minutes: the marked stretch without its ordinary edges."""
    busy = np.flatnonzero(counts[a:b] - exp[a:b] >= 1)
    return (a + int(busy[0]), a + int(busy[-1]) + 1) if len(busy) else (a, b)


def find_periodic(s: Series, scales: tuple[int, ...] = BATCH_SCALES) -> list[Window]:
    """Short spikes repeating at a regular interval ("regular batch growth").

    A batch is looked for minute by minute, then over 3 and 5 minutes: a scheduler that
    staggers a batch's identities over a few minutes makes a modest excess in each minute
    but a clear one over its span. A coarser scale only reports runs where no finer one
    found any on the candidate at that time (its spans are wider, hence less pure). A
    sub-stream with no rhythm of its own (a cohort's, see fuse) is looked at minute by
    minute only: with nothing expected there, any few votes over five minutes stand out.
    """
    out: list[Window] = []
    exp_min = np.repeat(s.expected, 5, axis=1) / 5
    for k in scales:
        found = _find_periodic_at(s, exp_min, k)
        out += [w for w in found if not any(_overlaps(w, o) for o in out)]
    return out


def _overlaps(w: Window, o: Window) -> bool:
    return w.candidate == o.candidate and w.start_ms < o.end_ms and o.start_ms < w.end_ms


def _find_periodic_at(s: Series, exp_min: F64, scale: int) -> list[Window]:
    out: list[Window] = []
    # Five batches in a row minute by minute; over several minutes, where the arrivals of
    # a real crowd (a workplace after a meeting, a fan club after its reminder) can look
    # like a few batches by chance, only a run long enough to be overwhelming.
    min_batches = 5 if scale == 1 else COARSE_MIN_BATCHES
    spikes = _batch_minutes(s.minute_counts, exp_min, scale)
    for c in range(s.minute_counts.shape[0]):
        # Batches are short; over several minutes, trimmed to their own busy minutes.
        runs = [(a, b) for a, b in _runs(spikes[c], 1) if b - a <= 4 + scale]
        events = (
            runs if scale == 1 else [_trim(s.minute_counts[c], exp_min[c], a, b) for a, b in runs]
        )
        if len(events) < 5:
            continue
        centers = np.array([(a + b) / 2 for a, b in events])
        gaps = np.diff(centers)
        i = 0
        while i < len(gaps):
            g = gaps[i]
            j = i
            unit: list[float] = []  # gaps divided by how many periods they span
            # Extend while each gap is a whole number (1-3) of periods: a batch that did
            # not stand out (or was skipped) does not break the rhythm.
            while j < len(gaps) and 5 <= g <= 360:
                k = round(gaps[j] / g)
                if k < 1 or k > 3 or abs(gaps[j] / g - k) > 0.3:
                    break
                unit.append(gaps[j] / k)
                j += 1
                g = float(np.median(unit))
            if j - i >= min_batches - 1:
                run = events[i : j + 1]
                gg = np.array(unit)
                cv = float(gg.std() / gg.mean())
                a0, b0 = run[0][0], run[-1][1]
                pad = int(2 * g)
                lo = max(a0 - pad, 0)
                seg = np.maximum(s.minute_counts[c, lo : b0 + pad] - exp_min[c, lo : b0 + pad], 0)
                period, fisher_g = _periodogram_peak(seg, 5, 360)
                acf = _acf(np.convolve(seg, np.ones(3), "same"), round(g))
                harmonic = period > 0 and min(abs(period / g - k) for k in (0.5, 1, 2, 3)) < 0.2
                if cv <= 0.3 and (acf >= 0.3 or (harmonic and fisher_g >= 0.05)):
                    batch_votes = [int(s.minute_counts[c, a:b].sum()) for a, b in run]
                    out.append(
                        Window(
                            c, s.day0_ms + a0 * MIN_MS, s.day0_ms + b0 * MIN_MS, "periodic",
                            {
                                "batches": len(run),
                                "period_minutes": round(float(np.median(gg)), 1),
                                "gap_cv": round(cv, 3),
                                "periodogram_period_minutes": round(period, 1),
                                "periodogram_share": round(fisher_g, 3),
                                "autocorrelation_at_period": round(acf, 2),
                                "votes_in_batches": int(sum(batch_votes)),
                                "median_batch_votes": int(np.median(batch_votes)),
                            },
                            # A batch's first and last votes can fall in the minutes either side.
                            [(s.day0_ms + (a - 1) * MIN_MS, s.day0_ms + (b + 1) * MIN_MS) for a, b in run],  # noqa: E501
                        )
                    )  # fmt: skip
                i = j
            else:
                i += 1
    return out


def merge_periodic(windows: list[Window]) -> list[Window]:
    """One run per candidate and period: a schedule that pauses at night is still one.

    Runs on the same candidate whose periods agree within 15 % (or one is a whole multiple
    of the other: a run that missed every other batch) are joined; the joined run counts
    all their batches, keeps the shorter period and the largest gap variation.
    """
    out: list[Window] = []
    for w in sorted(windows, key=lambda w: (w.candidate, w.start_ms)):
        prev = out[-1] if out else None
        ratio = (
            num(prev.evidence, "period_minutes") / num(w.evidence, "period_minutes")
            if prev is not None
            else 0.0
        )
        ratio = max(ratio, 1 / ratio) if ratio > 0 else 0.0
        if (
            prev is not None
            and prev.candidate == w.candidate
            and ratio > 0
            and abs(ratio / round(ratio) - 1) <= 0.15
            and round(ratio) <= 3
        ):
            e, f = prev.evidence, w.evidence
            if num(f, "period_minutes") < num(e, "period_minutes") / 1.5:
                e, f = f, e  # keep the shorter period in front
            n1, n2 = int(num(e, "batches")), int(num(f, "batches"))
            ev = dict(e)
            ev["batches"] = n1 + n2
            if round(ratio) == 1:
                ev["period_minutes"] = round(
                    (num(e, "period_minutes") * n1 + num(f, "period_minutes") * n2) / (n1 + n2),
                    1,
                )
            ev["gap_cv"] = max(num(e, "gap_cv"), num(f, "gap_cv"))
            ev["autocorrelation_at_period"] = min(
                num(e, "autocorrelation_at_period"), num(f, "autocorrelation_at_period")
            )
            ev["votes_in_batches"] = int(num(e, "votes_in_batches")) + int(
                num(f, "votes_in_batches")
            )
            ev["runs"] = int(num(e, "runs")) + 1 if "runs" in e else 2
            out[-1] = Window(
                w.candidate, prev.start_ms, w.end_ms, "periodic", ev, prev.spans + w.spans
            )
        else:
            out.append(w)
    return out


def find_off_rhythm(s: Series, table: VoteTable) -> list[Window]:
    """A candidate whose votes keep coming at night when everybody else's do not."""
    n_c, n_bins = s.counts.shape
    hour = (np.arange(n_bins) % BINS_PER_DAY) // 12
    night = np.isin(hour, NIGHT_HOURS)
    tot = s.counts.sum(axis=1)
    nig = s.counts[:, night].sum(axis=1)
    share = np.divide(nig, tot, out=np.zeros_like(tot), where=tot > 0)
    p0 = float(np.median(share[tot > 0])) if (tot > 0).any() else 0.0
    p0 = max(p0, 1e-3)
    out: list[Window] = []
    for c in range(n_c):
        if tot[c] <= 0:
            continue
        exp = tot[c] * p0
        z = (nig[c] - exp) / np.sqrt(exp * (1 - p0) + (PHI * exp) ** 2 + 1)
        if share[c] >= 2.5 * p0 and z >= 8 and nig[c] - exp >= 50:
            ts = table.t_ms[table.cand == c]
            out.append(
                Window(
                    c, int(ts.min()), int(ts.max()) + 1, "off_rhythm",
                    {
                        "night_votes": int(nig[c]),
                        "night_share": round(float(share[c]), 3),
                        "everybody_night_share": round(p0, 3),
                        "excess_night_votes": round(float(nig[c] - exp), 1),
                        "score": round(float(z), 1),
                        "night_hours": "01:00-07:00",
                    },
                )
            )  # fmt: skip
    return out


SHIFT_RATIO = 1.25
SHIFT_Z = 3.0
SHIFT_MIN_DAYS = 2


def find_level_shifts(s: Series) -> list[Window]:
    """A candidate's share of the day's votes that rises and stays up for days.

    Each candidate is measured against itself: its typical share of the day's votes (the
    median over the days, which a few shifted days cannot move), times the day's total,
    is what it would get; the day's total carries the campaign's own ups and downs (the
    opening, the final-day push). One day above it is a share or a push, seen as a burst;
    two or more consecutive days, each well above it (overdispersed score >= 6 and 30 %
    more), is a level shift: a drip or a daily farm, or a real rise in popularity. So it
    is weak evidence, timing only: it says when to look, and a strong kind about the
    voters themselves must agree before anything is proposed.
    """
    n_c, n_bins = s.counts.shape
    n_days = -(-n_bins // BINS_PER_DAY)
    pad = n_days * BINS_PER_DAY - n_bins
    per_day = np.pad(s.counts, ((0, 0), (0, pad))).reshape(n_c, n_days, BINS_PER_DAY).sum(axis=2)
    total = per_day.sum(axis=0)
    live = total > 0
    out: list[Window] = []
    if live.sum() < 3:
        return out
    share = np.divide(per_day, total, out=np.zeros_like(per_day), where=total > 0)
    for c in range(n_c):
        base = float(np.median(share[c, live]))
        exp = base * total
        z = zscore(per_day[c], exp)
        up = live & (per_day[c] >= SHIFT_RATIO * exp) & (z >= SHIFT_Z)
        for a, b in _runs(up, 1):
            if b - a < SHIFT_MIN_DAYS:
                continue
            votes, expected = float(per_day[c, a:b].sum()), float(exp[a:b].sum())
            out.append(
                Window(
                    c, s.day0_ms + a * DAY_MS, s.day0_ms + b * DAY_MS, "level_shift",
                    {
                        "days": b - a,
                        "votes": int(votes),
                        "expected": round(expected, 1),
                        "ratio": round(votes / max(expected, 1.0), 2),
                        "typical_share": round(base, 4),
                        "score": round(float(z[a:b].min()), 1),
                    },
                )
            )  # fmt: skip
    return out
