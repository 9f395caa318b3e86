"""report.html: one self-contained bilingual page a committee reads in one sitting.

It is organised by case: each case (one episode of one pattern) has its own section in
Chinese and English with a chart of the candidate's votes over time and the case's
windows marked, the evidence table (each figure with how unlikely it is under the
campaign's own organic behaviour), and the candidate's votes before and after. Cases come
in the order of the votes they move and how sure they are.

Charts are inline SVG (no script, no external request, readable without colour: removed
votes are a separate series, windows are labelled), so the page opens offline.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from opstools.analyze.fuse import KIND_NAMES, KIND_ZH, Case, Findings, case_text, iso, short
from opstools.analyze.load import Malformed, VoteTable
from opstools.analyze.series import DAY_MS, HOUR_MS

W, H, PAD = 720, 170, 34
Titles = dict[str, dict[str, str]]

METHOD = [
    (
        "每位候选对象的投票曲线与它自己的日常节奏和当日水平比较，找出短时间内不合理的快速增长（突增）和按固定间隔有规律的批量增长（周期性批次）。",
        "Each candidate's votes over time are compared with its own daily rhythm and its level that day, to find unreasonably fast growth in a short time (bursts) and regular batch growth at fixed intervals (periodic batches).",  # noqa: E501
    ),
    (
        "我们查看是谁在投票，并与本次活动全体投票者比较：点击是否快于或整齐于真人（行为）；一次性投票者是否来自全场再无他人使用的网络（代理池，网络）；一群人是否带着全场其余投票者几乎不用的同一种浏览器标识（设备）；同一批投票者是否多日一起出现、几乎全员到齐，不论经由哪些网络（协同）。",
        "We look at who voted, against the whole campaign's voters: clicks faster or more even than a person (behaviour); one-off voters arriving on networks nobody else uses (proxy pools: network); a crowd carrying one User-Agent string the rest of the campaign hardly uses (device); the same voters together day after day, nearly all present each time, through whatever networks (coordination).",  # noqa: E501
    ),
    (
        "真实人群（微信群转发、公众号推送、学校或单位集会、粉丝群每日提醒、最后一天冲刺）也会造成突增和同网络人群，因此这些只是弱证据。建议剔除需要两类独立的强证据一致；或一类强证据加上重复出现（同一批人多日一起出现，一段长而均匀的周期性批次，或同一种罕见浏览器标识、机器节奏在同一候选对象上连续三天以上出现）；或一次突增几乎全部（八成以上）由同一种异常构成（真实人群带着全体投票者的各式网络与手机，只有少数人有这种异常）；或一类证据本身压倒性（例如数十个固定间隔的批次：候选对象自身投票者也在这些分钟投票时，按投票人归属，只取全部选票都落在批次内的身份），其误报率已在基准测试中测量。只有一类强证据的票仅供复核。分析本身从不剔除任何票：剔除由组织者用 ops.py invalidate 记录。",  # noqa: E501
        "Real crowds (a WeChat share, an official account's push, a school or company assembly, a fan club's daily reminder, the final-day push) also cause bursts and crowds on one network, so those are weak evidence. Removal needs two independent strong kinds to agree; or one strong kind and recurrence (the same people again on other days, a long even run of periodic batches, or the same rare User-Agent or machine pace returning on the same candidate on three or more days); or a burst made almost entirely (80 % or more) of one anomaly (a real crowd carries the population's mix of networks and phones, where only a few have it); or one kind so overwhelming (dozens of batches at a fixed interval: where the candidate's own voters share the batches' minutes, only the identities whose every vote lies inside the batches are taken) that its false-alarm rate was measured on the benchmark. One strong kind alone is for review. The analysis removes nothing itself: the organiser records removals with ops.py invalidate.",  # noqa: E501
    ),
]

CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0 auto;max-width:62rem;padding:1rem;color:#111;line-height:1.5}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right}svg text{font-size:10px;fill:#333}
.obs{fill:none;stroke:#1a4d8f;stroke-width:1.2}.exp{fill:none;stroke:#555;stroke-dasharray:3 2}
.win{fill:#f2b705;opacity:.35}.rem{fill:#b00020;opacity:.7}.grid{stroke:#ddd}
.en{color:#333}section.case{border-top:2px solid #333;margin-top:1.5rem}
.remove{color:#b00020}.review{color:#8a5a00}
"""


def _bi(zh: str, en: str, tag: str = "p") -> str:
    return f'<{tag} lang="zh-CN">{zh}</{tag}><{tag} lang="en" class="en">{en}</{tag}>'


def _name(t: VoteTable, titles: Titles, c: int) -> str:
    cid = t.cand_names[c]
    title = titles.get(cid)
    if not title:
        return escape(cid)
    return (
        f'{escape(title.get("zh", cid))} <span lang="en">{escape(title.get("en", ""))}</span> '
        f"<small>({escape(cid)})</small>"
    )


def _chart(t: VoteTable, f: Findings, c: int, case: Case, label: str) -> str:
    """Votes per hour of one candidate, its expected curve, the case's windows, removals."""
    s = f.series
    n_hours = s.counts.shape[1] // 12
    obs = s.counts[c].reshape(n_hours, 12).sum(axis=1)
    exp = s.expected[c].reshape(n_hours, 12).sum(axis=1)
    mine = case.rows[t.cand[case.rows] == c]
    rem = np.bincount((t.t_ms[mine] - s.day0_ms) // HOUR_MS, minlength=n_hours)[:n_hours]
    top = max(float(obs.max()), float(exp.max()), 1.0)
    sx = (W - 2 * PAD) / max(n_hours, 1)

    def y(v: float) -> float:
        return H - PAD - (H - 2 * PAD) * v / top

    cid = f"{case.id}-{c}"
    parts = [
        f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="t{cid}">',
        f'<title id="t{cid}">{escape(label)}: 每小时票数 votes per hour</title>',
    ]
    spans = [(f.windows[int(w)].start_ms, f.windows[int(w)].end_ms)
             for w in np.unique(f.window_of[mine]) if w >= 0] or [(case.start_ms, case.end_ms)]  # fmt: skip  # noqa: E501
    for a, b in spans:
        x0 = PAD + (a - s.day0_ms) / HOUR_MS * sx
        x1 = PAD + (b - s.day0_ms) / HOUR_MS * sx
        parts.append(
            f'<rect class="win" x="{x0:.1f}" y="{PAD / 2}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{H - 1.5 * PAD}"><title>{case.id} {short(a)}–{short(b)}</title></rect>'
        )
    for d in range(0, n_hours // 24 + 1):
        x = PAD + d * 24 * sx
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD / 2}" y2="{H - PAD}"/>'
        )
        if d < n_hours // 24:
            parts.append(
                f'<text x="{x + 2:.1f}" y="{H - PAD + 12}">{iso(s.day0_ms + d * DAY_MS)[5:10]}</text>'  # noqa: E501
            )
    for k in np.flatnonzero(rem):
        parts.append(
            f'<rect class="rem" x="{PAD + k * sx:.1f}" y="{y(float(rem[k])):.1f}" '
            f'width="{max(sx, 1):.1f}" height="{H - PAD - y(float(rem[k])):.1f}"/>'
        )
    pts = " ".join(f"{PAD + (k + 0.5) * sx:.1f},{y(float(v)):.1f}" for k, v in enumerate(obs))
    epts = " ".join(f"{PAD + (k + 0.5) * sx:.1f},{y(float(v)):.1f}" for k, v in enumerate(exp))
    parts.append(f'<polyline class="exp" points="{epts}"/><polyline class="obs" points="{pts}"/>')
    parts.append(
        f'<text x="2" y="{PAD / 2 + 8}">{int(top)}</text><text x="2" y="{H - PAD}">0</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return escape(str(v))


def _case_section(t: VoteTable, f: Findings, c: Case, titles: Titles) -> str:
    zh, en = case_text(t, c)
    cls = c.action
    verb = "建议剔除 remove" if c.action == "remove" else "待复核 review"
    out = [
        f'<section class="case" id="{c.id}" aria-labelledby="h{c.id}">',
        f'<h3 id="h{c.id}"><span class="{cls}">{c.id} · {verb}</span> · '
        + "、".join(_name(t, titles, x) for x in c.candidates)
        + "</h3>",
        _bi(escape(zh), escape(en)),
    ]
    n_c = len(t.cand_names)
    before = np.bincount(t.cand, minlength=n_c)
    moved = np.bincount(t.cand[c.rows], minlength=n_c)
    out.append(
        "<table><thead><tr><th scope=col>候选 Candidate</th><th scope=col>原始票数 Votes before</th>"  # noqa: E501
        "<th scope=col>本案 This case</th><th scope=col>之后 After</th></tr></thead><tbody>"
    )
    for x in c.candidates:
        out.append(
            f"<tr><td>{_name(t, titles, x)}</td><td class=n>{before[x]}</td>"
            f"<td class=n>{moved[x]}</td><td class=n>{before[x] - moved[x]}</td></tr>"
        )
    out.append("</tbody></table>")
    # The chart of the candidate the case moves most (others are in the flags file).
    main = int(c.candidates[int(np.argmax([moved[x] for x in c.candidates]))])
    out.append(
        f"<figure>{_chart(t, f, main, c, t.cand_names[main])}<figcaption>"
        f"{_name(t, titles, main)}: 蓝线为每小时票数，灰色虚线为按其节奏的预期，黄色为本案时段，红色为本案的票 / "  # noqa: E501
        f'<span lang="en">blue: votes per hour; dashed: expected from its own rhythm; yellow: '
        f"this case's windows; red: this case's votes</span></figcaption></figure>"
    )
    out.append(
        "<table><thead><tr><th scope=col>类别 Kind</th><th scope=col>证据 Evidence</th>"
        "<th scope=col>数值 Figure</th><th scope=col>在自然投票中的可能性 Under organic behaviour</th>"  # noqa: E501
        "</tr></thead><tbody>"
    )
    zh_kind = {v: KIND_ZH[k] for k, v in KIND_NAMES.items()}
    for item in c.evidence:
        fig = ", ".join(f"{escape(k)} {_fmt(v)}" for k, v in item["figure"].items())
        lp = float(item["organic_log10_p"])
        p = f"p ≤ 1e-{int(lp)}" if lp >= 1 else "—"
        strength = "强 strong" if item["strength"] == "strong" else "弱 weak"
        more = int(item.get("more", 0))
        if more:
            fig += f"<br><small>另有 {more} 项同类 / and {more} more like it</small>"
        out.append(
            f"<tr><td>{zh_kind[item['kind']]} {item['kind']}<br><small>{strength}</small></td>"
            f'<td><span lang="zh-CN">{escape(item["zh"])}</span><br>'
            f'<span lang="en" class="en">{escape(item["en"])}</span></td><td>{fig}</td>'
            f'<td>{p}<br><span lang="zh-CN">{escape(item["organic"]["zh"])}</span><br>'
            f'<span lang="en" class="en">{escape(item["organic"]["en"])}</span></td></tr>'
        )
    out.append("</tbody></table></section>")
    return "\n".join(out)


def render(
    t: VoteTable,
    f: Findings,
    flags: dict[str, Any],
    bad: list[Malformed],
    source: str,
    titles: Titles | None = None,
) -> str:
    titles = titles or {}
    removed = int((f.level == 2).sum())
    review = int((f.level == 1).sum())
    n_rem_cases = sum(1 for c in f.cases if c.action == "remove")
    h: list[str] = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>投票数据分析报告 Vote analysis report</title>",
        f"<style>{CSS}</style></head><body><main>",
        '<h1>投票数据分析报告 <span lang="en">Vote analysis report</span></h1>',
        _bi(
            f"数据文件 {escape(source)}：共 {t.size} 票，{len(t.voter_names)} 位投票者。发现 {len(f.cases)} 个案例（{n_rem_cases} 个建议剔除）：建议剔除 {removed} 票，待复核 {review} 票。无法读取的行 {len(bad)} 行。",  # noqa: E501
            f"Export {escape(source)}: {t.size} votes from {len(t.voter_names)} voters. {len(f.cases)} cases ({n_rem_cases} proposed for removal): {removed} votes proposed for removal, {review} for review. {len(bad)} unreadable lines.",  # noqa: E501
        ),
        '<h2>方法 <span lang="en">Method</span></h2>',
    ]
    for zh, en in METHOD:
        h.append(_bi(zh, en))
    n_c = len(t.cand_names)
    before = np.bincount(t.cand, minlength=n_c)
    after = before - np.bincount(t.cand[f.level == 2], minlength=n_c)
    rank_before = {
        c: i + 1
        for i, c in enumerate(sorted(range(n_c), key=lambda c: (-before[c], t.cand_names[c])))
    }
    h.append(
        '<h2>得票：剔除前后 <span lang="en">Tally before and after proposed removals</span></h2>'
    )
    h.append(
        "<table><thead><tr><th scope=col>名次 Rank</th><th scope=col>候选 Candidate</th>"
        "<th scope=col>原始票数 Votes</th><th scope=col>建议剔除 Removed</th>"
        "<th scope=col>剔除后 After</th><th scope=col>原名次 Rank before</th></tr></thead><tbody>"
    )
    for i, c in enumerate(sorted(range(n_c), key=lambda c: (-after[c], t.cand_names[c]))):
        h.append(
            f"<tr><td class=n>{i + 1}</td><td>{_name(t, titles, c)}</td><td class=n>{before[c]}</td>"  # noqa: E501
            f"<td class=n>{before[c] - after[c]}</td><td class=n>{after[c]}</td>"
            f"<td class=n>{rank_before[c]}</td></tr>"
        )
    h.append("</tbody></table>")
    h.append('<h2>案例 <span lang="en">Cases</span></h2>')
    if f.cases:
        h.append(
            _bi(
                "按移动的票数和证据的确定程度排序。每个案例可用 ops.py invalidate --case 编号 整体记录。",  # noqa: E501
                "Sorted by the votes they move and how sure the evidence is. Each case can be recorded as a whole with ops.py invalidate --case ID.",  # noqa: E501
            )
        )
        for case in f.cases:
            h.append(_case_section(t, f, case, titles))
    else:
        h.append(_bi("未发现需要处理的案例。", "No case needs action."))
    context = [
        w
        for w in flags["windows"]
        if not w["evidence"].get("inside", {}).get("votes_remove")
        and not w["evidence"].get("inside", {}).get("votes_review")
        and w["kind"] != "group"
    ]
    if context:
        h.append('<h2>仅供参考的时段 <span lang="en">Windows noted, no action</span></h2>')
        h.append(
            _bi(
                "这些时段票数高于候选对象自身节奏，但投票者与真实人群无异（如转发、推送、集会），因此不标记任何票。",
                "These windows are above the candidate's own rhythm, but their voters look like a real crowd (a share, a push, an assembly), so no vote is flagged.",  # noqa: E501
            )
        )
        h.append(
            "<table><thead><tr><th scope=col>候选 Candidate</th><th scope=col>类型 Kind</th>"
            "<th scope=col>时间 Time (Beijing)</th><th scope=col>概要 Summary</th></tr></thead><tbody>"  # noqa: E501
        )
        for w in context[:60]:
            h.append(
                f"<tr><td>{escape(w['candidate'])}</td><td>{escape(w['kind'])}</td>"
                f"<td>{escape(w['start'][:16])} – {escape(w['end'][11:16])}</td>"
                f"<td>{escape(w['evidence']['summary'])}</td></tr>"
            )
        h.append("</tbody></table>")
    if bad:
        h.append('<h2>无法读取的行 <span lang="en">Unreadable lines</span></h2><ul>')
        for m in bad[:200]:
            h.append(f"<li>line {m.line}: {escape(m.reason)}</li>")
        if len(bad) > 200:
            h.append(f"<li>… {len(bad) - 200} more / 另有 {len(bad) - 200} 行</li>")
        h.append("</ul>")
    h.append("</main></body></html>")
    return "\n".join(h)
