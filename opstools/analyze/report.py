"""report.html: one self-contained bilingual page for the organiser and the expert panel.

Charts are inline SVG (no script, no external request, readable without colour: removed
votes are hatched, windows are labelled), so the page opens offline and in any browser.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from opstools.analyze.fuse import Findings, iso, tally
from opstools.analyze.load import Malformed, VoteTable
from opstools.analyze.series import DAY_MS, HOUR_MS

W, H, PAD = 720, 160, 34

METHOD = [
    (
        "每位候选对象的投票曲线与它自己的日常节奏（北京时间、晚间高峰）和当日水平比较，找出短时间内不合理的快速增长（突增），以及按固定间隔有规律的批量增长（周期性批次）；所有候选对象都在夜间很少得票，某一对象若昼夜不停地得票也会被标出。",
        "Each candidate's votes over time are compared with its own daily rhythm (Beijing time, evening peak) and its level that day, to find unreasonably fast growth in a short time (bursts) and regular batch growth at fixed intervals (periodic batches). A candidate that keeps receiving votes through the night, when nobody else does, is marked too.",  # noqa: E501
    ),
    (
        "在被标出的时段内，我们查看是谁在投票：是否大多是只来一次、只投一个对象的新投票者；网络和浏览器标识是否异常集中；点击速度和节奏是否快于或整齐于真人操作。",
        "Inside a marked window we look at who voted: how many are brand-new voters who come once for one candidate; whether networks and browser identifiers are unusually concentrated; whether clicks are faster or more even than a person can manage.",  # noqa: E501
    ),
    (
        "我们寻找一起行动的群体：同一批投票者，多日在同一时刻、同一网络为同一对象投票。",
        "We look for groups acting together: the same voters, on several days, voting for the same candidate at the same moment from the same networks.",  # noqa: E501
    ),
    (
        "只有当至少两类相互独立的证据（时间、行为、网络、协同）同时成立时，一张票才被建议剔除；只有一类证据的票仅供复核。单靠“新投票者”或“一次投满5票”永远不构成证据：微信群转发、单位动员、每日提醒、最后一天冲刺都是正常现象。",
        "A vote is proposed for removal only when at least two independent kinds of evidence (timing, behaviour, network, coordination) agree; votes with one kind are for review only. Being new, or using all five votes, is never evidence by itself: a WeChat share, a workplace appeal, a daily reminder and the final-day push are normal.",  # noqa: E501
    ),
]


def _chart(t: VoteTable, f: Findings, c: int, name: str) -> str:
    s = f.series
    n_hours = s.counts.shape[1] // 12
    obs = s.counts[c].reshape(n_hours, 12).sum(axis=1)
    exp = s.expected[c].reshape(n_hours, 12).sum(axis=1)
    rem_t = t.t_ms[(t.cand == c) & (f.level == 2)]
    rem = np.bincount((rem_t - s.day0_ms) // HOUR_MS, minlength=n_hours)[:n_hours]
    top = max(float(obs.max()), float(exp.max()), 1.0)
    sx = (W - 2 * PAD) / max(n_hours, 1)

    def y(v: float) -> float:
        return H - PAD + 0 - (H - 2 * PAD) * v / top

    parts = [
        f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="c{c}t">',
        f'<title id="c{c}t">{escape(name)}: 每小时票数 votes per hour</title>',
    ]
    for wi, w in enumerate(f.windows):
        if w.candidate != c:
            continue
        x0 = PAD + (w.start_ms - s.day0_ms) / HOUR_MS * sx
        x1 = PAD + (w.end_ms - s.day0_ms) / HOUR_MS * sx
        cls = "off" if w.kind == "off_rhythm" else "win"
        parts.append(
            f'<rect class="{cls}" x="{x0:.1f}" y="{PAD / 2}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{H - 1.5 * PAD}"><title>W{wi + 1} {w.kind}</title></rect>'
        )
    for d in range(0, n_hours // 24 + 1):
        x = PAD + d * 24 * sx
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD / 2}" y2="{H - PAD}"/>'
        )
        if d < n_hours // 24:
            label = iso(s.day0_ms + d * DAY_MS)[5:10]
            parts.append(f'<text x="{x + 2:.1f}" y="{H - PAD + 12}">{label}</text>')
    for k in range(n_hours):
        if rem[k]:
            parts.append(
                f'<rect class="rem" x="{PAD + k * sx:.1f}" y="{y(float(rem[k])):.1f}" '
                f'width="{max(sx, 1):.1f}" height="{H - PAD - y(float(rem[k])):.1f}"/>'
            )
    pts = " ".join(f"{PAD + (k + 0.5) * sx:.1f},{y(float(v)):.1f}" for k, v in enumerate(obs))
    epts = " ".join(f"{PAD + (k + 0.5) * sx:.1f},{y(float(v)):.1f}" for k, v in enumerate(exp))
    parts.append(f'<polyline class="exp" points="{epts}"/>')
    parts.append(f'<polyline class="obs" points="{pts}"/>')
    parts.append(
        f'<text x="2" y="{PAD / 2 + 8}">{int(top)}</text><text x="2" y="{H - PAD}">0</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0 auto;max-width:60rem;padding:1rem;color:#111;line-height:1.5}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right}svg text{font-size:10px;fill:#333}
.obs{fill:none;stroke:#1a4d8f;stroke-width:1.2}.exp{fill:none;stroke:#555;stroke-dasharray:3 2}
.win{fill:#f2b705;opacity:.35}.off{fill:#bbb;opacity:.2}.rem{fill:#b00020;opacity:.7}.grid{stroke:#ddd}
.en{color:#333}.key span{display:inline-block;width:1rem;height:.7rem;margin:0 .3rem 0 1rem}
"""


def _bi(zh: str, en: str, tag: str = "p") -> str:
    return f'<{tag} lang="zh-CN">{zh}</{tag}><{tag} lang="en" class="en">{en}</{tag}>'


def render(
    t: VoteTable, f: Findings, flags: dict[str, Any], bad: list[Malformed], source: str
) -> str:
    rows = tally(t, f)
    removed = int((f.level == 2).sum())
    review = int((f.level == 1).sum())
    h: list[str] = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>投票数据分析报告 Vote analysis report</title>",
        f"<style>{CSS}</style></head><body><main>",
        '<h1>投票数据分析报告 <span lang="en">Vote analysis report</span></h1>',
        _bi(
            f"数据文件 {escape(source)}：共 {t.size} 票，{len(t.voter_names)} 位投票者；建议剔除 {removed} 票，待复核 {review} 票；无法读取的行 {len(bad)} 行。",  # noqa: E501
            f"Export {escape(source)}: {t.size} votes from {len(t.voter_names)} voters; {removed} votes proposed for removal, {review} for review; {len(bad)} unreadable lines.",  # noqa: E501
        ),
        '<h2>方法 <span lang="en">Method</span></h2>',
    ]
    for zh, en in METHOD:
        h.append(_bi(zh, en))
    h.append('<h2>得票：剔除前后 <span lang="en">Tally before and after removals</span></h2>')
    h.append(
        "<table><thead><tr><th scope=col>名次 Rank</th><th scope=col>候选 Candidate</th>"
        "<th scope=col>原始票数 Votes</th><th scope=col>建议剔除 Removed</th>"
        "<th scope=col>剔除后 After</th><th scope=col>原名次 Rank before</th></tr></thead><tbody>"
    )
    before_rank = {r[0]: i + 1 for i, r in enumerate(sorted(rows, key=lambda r: (-r[1], r[0])))}
    for i, (name, b, a) in enumerate(rows):
        h.append(
            f"<tr><td class=n>{i + 1}</td><td>{escape(name)}</td><td class=n>{b}</td>"
            f"<td class=n>{b - a}</td><td class=n>{a}</td><td class=n>{before_rank[name]}</td></tr>"
        )
    h.append("</tbody></table>")
    h.append('<h2>可疑时段与群体 <span lang="en">Windows and groups found</span></h2>')
    if flags["windows"]:
        h.append(
            "<table><thead><tr><th scope=col>#</th><th scope=col>候选 Candidate</th><th scope=col>类型 Kind</th>"  # noqa: E501
            "<th scope=col>时间 Time (Beijing)</th><th scope=col>证据 Evidence</th></tr></thead><tbody>"  # noqa: E501
        )
        for i, w in enumerate(flags["windows"]):
            ev = w["evidence"]
            inside = ev.get("inside", {})
            extra = ""
            if inside:
                extra = (
                    f"<br>窗口内 inside: {inside.get('votes_inside', 0)} votes, {inside.get('voters_inside', 0)} voters; "  # noqa: E501
                    f"one-off voters {inside.get('share_one_off_voters', 0):.0%} (elsewhere {inside.get('baseline_share_one_off_voters') or 0:.0%}); "  # noqa: E501
                    f"automated {inside.get('share_automated_voters', 0):.0%}; same-network-same-UA crowds {inside.get('share_votes_in_ua_homogeneous_cells', 0):.0%}; "  # noqa: E501
                    f"in groups {inside.get('share_votes_in_groups', 0):.0%}; {inside.get('networks', 0)} networks (top {inside.get('top_network_share', 0):.0%}), "  # noqa: E501
                    f"{inside.get('user_agents', 0)} UAs (top {inside.get('top_user_agent_share', 0):.0%}); "  # noqa: E501
                    f"<strong>remove {inside.get('votes_remove', 0)}</strong>, review {inside.get('votes_review', 0)}"  # noqa: E501
                )
            elif "votes_remove" in ev:
                extra = f"<br><strong>remove {ev['votes_remove']}</strong> of {ev['votes']} votes"
            h.append(
                f"<tr><td>W{i + 1}</td><td>{escape(w['candidate'])}</td><td>{escape(w['kind'])}</td>"  # noqa: E501
                f"<td>{escape(w['start'][:16])} – {escape(w['end'][11:16])}</td><td>{escape(ev['summary'])}{extra}</td></tr>"  # noqa: E501
            )
        h.append("</tbody></table>")
    else:
        h.append(_bi("未发现异常时段或群体。", "No abnormal window or group was found."))
    h.append('<h2>各候选对象的票数曲线 <span lang="en">Votes per hour, per candidate</span></h2>')
    h.append(
        _bi(
            "蓝线：每小时实际票数；灰色虚线：按其自身节奏的预期；黄色阴影：可疑时段；红色柱：建议剔除的票。",
            "Blue line: votes per hour; dashed grey: expected from its own rhythm; yellow shading: flagged windows; red bars: votes proposed for removal.",  # noqa: E501
        )
    )
    for c, name in enumerate(t.cand_names):
        h.append(f"<figure><figcaption>{escape(name)}</figcaption>{_chart(t, f, c, name)}</figure>")
    if bad:
        h.append('<h2>无法读取的行 <span lang="en">Unreadable lines</span></h2><ul>')
        for m in bad[:200]:
            h.append(f"<li>line {m.line}: {escape(m.reason)}</li>")
        if len(bad) > 200:
            h.append(f"<li>… {len(bad) - 200} more / 另有 {len(bad) - 200} 行</li>")
        h.append("</ul>")
    h.append("</main></body></html>")
    return "\n".join(h)
