"""Presenting the lending and guarantee indicators: headline tables with targets and lights, trends over the
year's cycles, banks behind plan, the reconciliation of bank-reported against detail-derived figures, and the
guarantee section. Formats finished frames only (`indicators` of one cycle, or of the year with `cycle`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from ..indicators.guarantee import guarantee_history
from ..indicators.targets import INDICATORS
from ..indicators.lending import first_loan_differences, reply_workdays
from ..reconcile.lights import LIGHT_LABELS
from .report import LIGHT_COLOURS, esc, kept_chart, legend_outside, light_chip, num, pct, setup_fonts, table

CITY_SCOPE = "city"
GUARANTEE_LABELS = {
    "guarantee_capital": "市级政府性融资担保机构注册资本",
    "guarantee_leverage": "融资担保放大倍数",
    "guarantee_in_force_balance": "在保余额",
    "risk_compensation_due": "应拨风险补偿资金",
    "fee_subsidy_eligible": "担保费率补差适用业务余额",
    "fee_subsidy_eligible_count": "担保费率补差适用业务笔数",
    "compensation_rate": "担保代偿率",
}
CATEGORY_COLOURS = {"国有大型银行": "#1a73e8", "股份制银行": "#9334e6", "城市商业银行": "#e8710a", "地方法人银行": "#188038"}
SCOPE_LABELS = {"city": "全市", "category": "银行类别", "county": "县区", "bank": "银行", "institution": "担保机构"}


def label(indicator: str) -> str:
    if indicator in INDICATORS:
        return INDICATORS[indicator].label
    return GUARANTEE_LABELS.get(indicator, indicator)


def fmt_value(value: Any, unit: Any) -> str:
    """A value in its display unit: shares as %, households and counts whole, amounts in 万元, BP, 倍."""
    if value is None or pd.isna(value):
        return "—"
    if unit == "比例":
        return pct(value)
    if unit in ("户", "笔"):
        return f"{value:,.0f} {unit}"
    if unit == "BP":
        return f"{value:,.0f} BP"
    if unit == "倍":
        return f"{value:,.2f} 倍"
    return f"{num(value)} {unit or ''}".strip()


def _with_display(frame: pd.DataFrame) -> pd.DataFrame:
    items = figure_items(frame)
    return frame.assign(
        item=items,
        name=[label(i) + (f"（{item}）" if item else "") for i, item in zip(frame["indicator"], items)],
        shown=[fmt_value(v, u) for v, u in zip(frame["value"], frame["unit"])],
        target_shown=[fmt_value(v, u) if not pd.isna(v) else "—" for v, u in zip(frame["target"], frame["unit"])],
        light=[light_chip(s) if isinstance(s, str) else "" for s in frame["status"]],
    )


def basis_lead(basis: Any) -> str:
    """What a figure counts, where its basis says so first: 「首贷户数：…」 → 首贷户数 (else "")."""
    head = basis.split("：", 1)[0] if isinstance(basis, str) and "：" in basis else ""
    return head if len(head) <= 24 else ""


def figure_items(frame: pd.DataFrame) -> list[str]:
    """What tells apart rows of one indicator for one scope (a 信贷计划完成率 of the 普惠型小微企业贷款 plan and one of
    the 首贷户 plan): the lead of its basis up to 「：」, where the indicator has more than one row for the scope;
    otherwise "". Rows still alike are numbered, so that no two rows of a table share a name."""
    keys = list(zip(frame["indicator"], frame["scope"], frame["scope_id"]))
    counts = Counter(keys)
    items = [basis_lead(basis) if counts[key] > 1 else "" for key, basis in zip(keys, frame["basis"])]
    full = [(*key, item) for key, item in zip(keys, items)]
    totals, seen = Counter(full), Counter()
    for i, key in enumerate(full):
        if totals[key] > 1:
            seen[key] += 1
            items[i] = f"{items[i]}，第 {seen[key]} 项" if items[i] else f"第 {seen[key]} 项"
    return items


def indicators_overview(indicators: pd.DataFrame) -> pd.DataFrame:
    """The city-wide figures of a cycle (`03_indicators`): 指标, 本期, 目标, 状态, 口径."""
    city = indicators[indicators["scope"] == CITY_SCOPE]
    shown = _with_display(city)
    return pd.DataFrame({
        "指标": shown["name"].to_numpy(),
        "本期": shown["shown"].to_numpy(),
        "目标": shown["target_shown"].to_numpy(),
        "状态": [LIGHT_LABELS.get(s, "") if isinstance(s, str) else "" for s in city["status"]],
        "口径": city["basis"].to_numpy(),
    })


def indicators_coverage(indicators: pd.DataFrame) -> pd.DataFrame:
    """How many figures each indicator has per scope (全市, 银行类别, 县区, 银行, 担保机构)."""
    counts = indicators.groupby(["indicator", "scope"], sort=False).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[s for s in SCOPE_LABELS if s in counts.columns])
    counts.columns = [SCOPE_LABELS[c] for c in counts.columns]
    counts.index = [label(i) for i in counts.index]
    counts.index.name = "指标"
    return counts


def headline_table(indicators: pd.DataFrame, *, guarantee: bool = False) -> str:
    """City-wide figures with target, light and basis."""
    wanted = set(GUARANTEE_LABELS) if guarantee else set(INDICATORS)
    city = indicators[(indicators["scope"] == CITY_SCOPE) & indicators["indicator"].isin(wanted)]
    if not len(city):
        return '<p class="muted">本期没有可计算的指标（未收到相应台账）。</p>'
    return table(_with_display(city), {"name": "指标", "shown": "本期", "target_shown": "目标", "light": "状态",
                                       "basis": "口径"}, html_columns=["light"], numeric=["shown", "target_shown"])


def scope_table(indicators: pd.DataFrame, indicator: str, scope: str) -> str:
    rows = indicators[(indicators["indicator"] == indicator) & (indicators["scope"] == scope)]
    return table(_with_display(rows), {"scope_id": SCOPE_LABELS.get(scope, scope), "shown": label(indicator),
                                       "target_shown": "目标", "light": "状态", "basis": "口径"},
                 html_columns=["light"], numeric=["shown", "target_shown"], empty="无数据")


def behind_plan_table(indicators: pd.DataFrame) -> str:
    """Banks whose plan completion is behind 时序进度 (orange or red), worst first."""
    rows = indicators[(indicators["indicator"] == "plan_completion_rate") & (indicators["scope"] == "bank")
                      & indicators["status"].isin(["red", "orange", "yellow"])]
    rows = rows.assign(_o=rows["status"].map({"red": 0, "orange": 1, "yellow": 2})).sort_values(["_o", "value"])
    shown = _with_display(rows)
    shown = shown.assign(item=[basis_lead(b) for b in shown["basis"]])     # a bank may be behind on both plans
    return table(shown, {"scope_id": "银行", "item": "计划项目", "shown": "完成率", "target_shown": "时序进度",
                         "light": "状态", "basis": "口径"},
                 html_columns=["light"], numeric=["shown", "target_shown"], empty="没有落后于时序进度的银行。")


def first_loan_reconciliation(indicators: pd.DataFrame) -> str:
    """The banks' own 首贷户数 beside the count derived from their loan details."""
    diff = first_loan_differences(indicators)
    diff = diff[diff["difference"].fillna(0) != 0] if len(diff) else diff
    return table(diff, {"bank": "银行", "reported": "银行报送", "derived": "按贷款明细认定", "difference": "差额"},
                 numeric=["reported", "derived", "difference"], empty="各银行报送的首贷户数与贷款明细一致。")


# ---------------------------------------------------------------------------------------------------------------
# Charts


TARGET_COLOUR = "#d93025"
PLAIN_BAR = "#1a73e8"     # a bar without a light
# what a bar's light says of its figure (the bands themselves are the plan's `light_bands`)
BAR_LIGHT_LABELS = {"green": "达标", "yellow": "略低于目标", "orange": "明显低于目标", "red": "远低于目标",
                    "grey": "不评价"}
CAP_COLOUR = "#5f6368"
# A cap this many times the largest value is not drawn: the axis would reach up to it and squash the values into
# its bottom strip. The legend names it instead.
CAP_FAR = 2.5


def limit_line(ax, value: float, *, cap: bool = False, vertical: bool = False, data_max: float | None = None,
               unit: str = "", name: str | None = None) -> None:
    """A plan limit on a chart, labelled for the legend: a target to reach (comparator ≥) as a red dashed line
    「目标 …」, a cap (≤) as a grey dash-dot line 「上限 …」, so that a value below a cap does not read as short of a
    target; `name` replaces 目标/上限 (「法定上限」). A cap more than CAP_FAR times the largest value (`data_max`) is
    only named in the legend."""
    label = f"{name or ('上限' if cap else '目标')} {value:,.4g}{unit}"
    style = dict(color=CAP_COLOUR, linestyle="-.", linewidth=1.2) if cap else \
        dict(color=TARGET_COLOUR, linestyle="--", linewidth=1)
    if cap and data_max is not None and data_max > 0 and value > CAP_FAR * data_max:
        from matplotlib.lines import Line2D

        ax.add_artist(Line2D([], [], label=f"{label}（远高于本图数值，未画出）", **style))
        return
    (ax.axvline if vertical else ax.axhline)(value, label=label, **style)


def _fig(width: float = 8, height: float = 3.4):
    import matplotlib.pyplot as plt

    setup_fonts()
    fig, ax = plt.subplots(figsize=(width, height))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


@kept_chart
def trend_by_scope_chart(history: pd.DataFrame, indicator: str, scope: str, title: str, *, percent: bool = True,
                         target_line: float | None = None, target_name: str | None = None):
    """One line per scope_id over the year's cycles; `target_line` a target to reach, named `target_name` in the
    legend (「国有大型银行目标」 when it holds for one of the lines)."""
    rows = history[(history["indicator"] == indicator) & (history["scope"] == scope)]
    if not len(rows):
        return None
    fig, ax = _fig()
    pivot = rows.pivot_table(index="cycle", columns="scope_id", values="value", aggfunc="first")
    for name in pivot.columns:
        scale = 100 if percent else 1
        ax.plot(pivot.index, pivot[name] * scale, marker="o", label=name, color=CATEGORY_COLOURS.get(name))
    if target_line is not None:
        limit_line(ax, target_line * (100 if percent else 1), unit="%" if percent else "", name=target_name)
    ax.set_ylabel("%" if percent else "")
    ax.set_title(title)
    legend_outside(ax)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


@kept_chart
def bars_chart(indicators: pd.DataFrame, indicator: str, scope: str, title: str, *, percent: bool = False,
               target_line: float | None = None, horizontal: bool = False, row_targets: bool = False):
    """Bars per scope, coloured by light. `target_line`: one target for every bar; `row_targets`: each bar's own
    target from the indicators table (banks of different categories answer to different targets), as a red tick."""
    rows = indicators[(indicators["indicator"] == indicator) & (indicators["scope"] == scope)].dropna(subset=["value"])
    if not len(rows):
        return None
    scale = 100 if percent else 1
    values = rows["value"] * scale
    colours = [LIGHT_COLOURS.get(s, PLAIN_BAR) if isinstance(s, str) else PLAIN_BAR for s in rows["status"]]
    marks = [(i, t * scale) for i, t in enumerate(pd.to_numeric(rows["target"], errors="coerce")) if pd.notna(t)] \
        if row_targets else []
    unit = "%" if percent else ""
    if horizontal:
        fig, ax = _fig(8, 1.2 + 0.32 * len(rows))
        ax.barh(rows["scope_id"], values, color=colours)
        ax.invert_yaxis()
        if target_line is not None:
            limit_line(ax, target_line * scale, vertical=True, unit=unit)
        if marks:
            ax.scatter([t for _, t in marks], [i for i, _ in marks], marker="|", s=260, color=TARGET_COLOUR,
                       zorder=3, label="各自目标")
    else:
        fig, ax = _fig()
        ax.bar(rows["scope_id"], values, color=colours)
        ax.tick_params(axis="x", labelrotation=30)
        if target_line is not None:
            limit_line(ax, target_line * scale, unit=unit)
        if marks:
            ax.scatter([i for i, _ in marks], [t for _, t in marks], marker="_", s=260, color=TARGET_COLOUR,
                       zorder=3, label="各自目标")
    ax.set_title(title)
    legend_outside(ax, key=_colour_key(rows["status"]))
    fig.tight_layout()
    return fig


def _bar_lights(statuses: pd.Series) -> list[str | None]:
    """The lights the bars show, in LIGHTS order, None for bars without a light."""
    present = {s if isinstance(s, str) and s in LIGHT_COLOURS else None for s in statuses}
    return [l for l in LIGHT_LABELS if l in present] + ([None] if None in present else [])


def _colour_key(statuses: pd.Series) -> list[tuple[Any, str]]:
    """(patch, label) for each bar colour shown: the lights, and 本期数值 for bars without one."""
    from matplotlib.patches import Patch

    return [(Patch(color=LIGHT_COLOURS[l] if l else PLAIN_BAR),
             f"{LIGHT_LABELS[l]}：{BAR_LIGHT_LABELS.get(l, '')}" if l else "本期数值") for l in _bar_lights(statuses)]


@kept_chart
def guarantee_chart(history_indicators: pd.DataFrame):
    """Leverage (line, left axis) and in-force balance (bars, right axis) of the city over the year's cycles."""
    hist = guarantee_history(history_indicators)
    city = hist[hist["scope"] == CITY_SCOPE]
    if not len(city):
        return None
    fig, ax = _fig()
    ax2 = ax.twinx()
    ax2.bar(city["cycle"], city["in_force_balance"], color="#c6dafc", label="在保余额（万元）")
    ax2.set_ylabel("在保余额（万元）")
    ax.plot(city["cycle"], city["leverage"], color="#1a73e8", marker="o", label="放大倍数")
    if city["leverage_cap"].notna().any():
        limit_line(ax, float(city["leverage_cap"].dropna().iloc[-1]), cap=True, unit=" 倍", name="法定上限",
                   data_max=float(city["leverage"].max()) if city["leverage"].notna().any() else None)
    ax.set_ylim(bottom=0)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_ylabel("放大倍数（倍）")
    ax.set_title("融资担保放大倍数与在保余额", pad=30)
    legend_outside(ax, ax2, above=True)   # above: the right of the axes carries the balance's scale
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


def target_of(plan, indicator: str, **scope: Any) -> float | None:
    """A plan threshold for a chart's target line, e.g. target_of(plan, "inclusive_sme_loan_growth",
    category="国有大型银行")."""
    for target in plan.targets_for(indicator):
        if isinstance(target.get("scope"), dict) and all(target["scope"].get(k) == v for k, v in scope.items()):
            if isinstance(target.get("threshold"), (int, float)):
                return float(target["threshold"])
    return None


def note(text: str) -> str:
    return f'<p class="muted">{esc(text)}</p>'


# ---------------------------------------------------------------------------------------------------------------
# Whole sections: a list of parts (HTML strings and figures) for `report.show_parts`


def lending_section(plan, indicators: pd.DataFrame, history: pd.DataFrame) -> list:
    """Headline figures, trends over the year's cycles, banks behind plan, and reported vs derived figures (the
    section's heading is the notebook's)."""
    if not {"lending", "noloan"} & set(plan.ledgers):
        return [note("本计划不要求报送信贷数据台账和无贷户名单，不计算信贷指标。")]
    if not len(indicators) or not indicators["indicator"].isin(list(INDICATORS)).any():
        return [note("本期没有收到信贷数据台账，无法计算信贷指标。")]
    big = target_of(plan, "inclusive_sme_loan_growth", category="国有大型银行")
    parts: list = [
        "<h3>全市主要指标</h3>", headline_table(indicators),
        "<h3>各类银行</h3>",
        scope_table(indicators, "credit_loan_share", "category"),
        scope_table(indicators, "inclusive_sme_loan_growth", "category"),
        trend_by_scope_chart(history, "credit_loan_share", "category", "信用贷款占比（按银行类别）"),
        trend_by_scope_chart(history, "inclusive_sme_loan_growth", "category", "普惠型小微企业贷款同比增速（按银行类别）",
                             target_line=big, target_name="国有大型银行目标"),
        bars_chart(indicators, "inclusive_sme_loan_growth", "bank", "各银行普惠型小微企业贷款同比增速（%）",
                   percent=True, horizontal=True, row_targets=True),
        "<h3>首贷户</h3>",
        bars_chart(indicators, "first_loan_households", "county", "首贷户数（当年累计，按县区）"),
        bars_chart(indicators, "first_loan_households", "bank", "首贷户数（当年累计，按首个认定银行）", horizontal=True),
        trend_by_scope_chart(history, "first_loan_households", "city", "全市首贷户数（当年累计）", percent=False),
        trend_by_scope_chart(history, "first_loan_households", "county", "各县区首贷户数（当年累计）随周期变化",
                             percent=False),
        "<h3>无贷户名单转化与授信申请回复</h3>",
        scope_table(indicators, "noloan_conversion_rate", "county"),
        bars_chart(indicators, "noloan_conversion_rate", "county", "无贷户名单转化率（按县区，%）", percent=True),
        trend_by_scope_chart(history, "reply_within_5_workdays_rate", "city",
                             f"无贷户授信申请{reply_workdays(plan)}个工作日内回复率",
                             target_line=target_of(plan, "reply_within_5_workdays_rate") or None),
        scope_table(indicators, "reply_within_5_workdays_rate", "bank"),
        "<h3>信贷计划落后于时序进度的银行</h3>", behind_plan_table(indicators),
        "<h3>小微企业内部转移定价优惠</h3>", scope_table(indicators, "transfer_pricing_discount_bp", "bank"),
        "<h3>银行报送与贷款明细核对：首贷户数</h3>", first_loan_reconciliation(indicators),
    ]
    return [p for p in parts if p is not None]


def guarantee_section(plan, indicators: pd.DataFrame, history: pd.DataFrame) -> list:
    """Capital, leverage, risk compensation, fee subsidy and compensation rate, with the leverage chart (the
    section's heading is the notebook's)."""
    if "guarantee" not in plan.ledgers:
        return [note("本计划不要求报送担保业务台账，不计算融资担保指标。")]
    if not len(indicators) or not indicators["indicator"].isin(list(GUARANTEE_LABELS)).any():
        return [note("本期没有收到担保业务台账。")]
    institutions = indicators[(indicators["scope"] == "institution") & indicators["indicator"].isin(list(GUARANTEE_LABELS))]
    parts = [
        headline_table(indicators, guarantee=True),
        "<h3>各担保机构</h3>",
        table(_with_display(institutions), {"scope_id": "机构", "name": "指标", "shown": "本期", "target_shown": "目标",
                                            "light": "状态", "basis": "口径"},
              html_columns=["light"], numeric=["shown", "target_shown"]),
        guarantee_chart(history),
    ]
    return [p for p in parts if p is not None]
