"""The report's indicator charts as a reader sees them: every series named in a legend, the legend outside the axes
(so it covers no bar, line or limit), a target drawn differently from a cap, and a cap far above the values named
without squashing them into the bottom of the chart. The figures are inspected directly (matplotlib artists and
their extents on the rendered canvas)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.lines import Line2D

from helpers.present import report, report_indicators as ri


def indicator_rows(rows, indicator="noloan_conversion_rate", scope="county"):
    """Indicator table rows (scope_id, value, target, status, cycle)."""
    return pd.DataFrame([{"indicator": indicator, "scope": scope, "scope_id": s, "value": v, "target": t,
                          "status": st, "basis": "口径", "unit": "比例", "cycle": c}
                         for s, v, t, st, c in rows])


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "the chart has no legend"
    return [t.get_text() for t in legend.get_texts()]


def extent(fig, artist):
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def assert_legend_outside(fig, ax):
    """The legend's box and the axes' box do not overlap: nothing drawn in the axes can be covered."""
    legend, box = extent(fig, ax.get_legend()), extent(fig, ax)
    overlap_w = min(legend.x1, box.x1) - max(legend.x0, box.x0)
    overlap_h = min(legend.y1, box.y1) - max(legend.y0, box.y0)
    assert overlap_w <= 1 or overlap_h <= 1, (legend, box)
    # and inside the figure: tight_layout kept it on the image
    whole = fig.bbox
    assert legend.x0 >= whole.x0 - 1 and legend.x1 <= whole.x1 + 1 and legend.y1 <= whole.y1 + 1


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_every_line_of_a_trend_chart_and_its_target_are_in_a_legend_outside_the_axes():
    history = pd.concat([
        indicator_rows([(name, v + i / 100, None, None, cycle) for i, cycle in enumerate(["2022-06-10", "2022-06-25"])],
                       "inclusive_sme_loan_growth", "category")
        for name, v in [("国有大型银行", 0.33), ("股份制银行", 0.41), ("地方法人银行", 0.47)]
    ])
    fig = ri.trend_by_scope_chart(history, "inclusive_sme_loan_growth", "category", "增速", target_line=0.30,
                                  target_name="国有大型银行目标")
    ax = fig.axes[0]
    drawn = [l.get_label() for l in ax.get_lines() if not l.get_label().startswith("_")]
    assert sorted(legend_texts(ax)) == sorted(drawn)
    assert {"国有大型银行", "股份制银行", "地方法人银行", "国有大型银行目标 30%"} == set(drawn)
    target = next(l for l in ax.get_lines() if l.get_label().startswith("国有大型银行目标"))
    assert target.get_linestyle() == "--" and target.get_color() == ri.TARGET_COLOUR
    assert_legend_outside(fig, ax)


def test_bars_name_their_colours_and_targets_in_the_legend():
    rows = indicator_rows([("甲县", 0.35, 0.30, "green", "2022-06-25"), ("乙县", 0.10, 0.30, "red", "2022-06-25"),
                           ("丙县", 0.28, 0.30, "yellow", "2022-06-25"), ("丁县", 0.20, None, None, "2022-06-25")])
    for horizontal in (False, True):
        fig = ri.bars_chart(rows, "noloan_conversion_rate", "county", "转化率", percent=True, row_targets=True,
                            horizontal=horizontal)
        ax = fig.axes[0]
        texts = legend_texts(ax)
        # one entry per colour the bars show (in the lights' order), then the targets' marks
        assert texts == ["红：远低于目标", "黄：略低于目标", "绿：达标", "本期数值", "各自目标"]
        assert_legend_outside(fig, ax)
    fig = ri.bars_chart(rows, "noloan_conversion_rate", "county", "转化率", percent=True, target_line=0.30)
    assert legend_texts(fig.axes[0])[-1] == "目标 30%"


def guarantee_history(leverage: list[float], cap: float) -> pd.DataFrame:
    cycles = ["2022-05-25", "2022-06-10", "2022-06-25"]
    rows = []
    for cycle, value in zip(cycles, leverage):
        rows.append({"indicator": "guarantee_leverage", "scope": "city", "scope_id": "全市", "value": value,
                     "target": cap, "status": "green", "basis": "", "unit": "倍", "cycle": cycle})
        rows.append({"indicator": "guarantee_in_force_balance", "scope": "city", "scope_id": "全市",
                     "value": 100000.0 + value, "target": None, "status": None, "basis": "", "unit": "万元",
                     "cycle": cycle})
    return pd.DataFrame(rows)


def test_a_cap_far_above_the_values_is_named_not_drawn_and_does_not_squash_them():
    """Leverage about 2 against a legal cap of 15: a line at 15 would push the values into the bottom eighth of
    the chart and, drawn like a target, read as a breach; the legend names the cap instead."""
    fig = ri.guarantee_chart(guarantee_history([2.3, 1.8, 2.0], 15.0))
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 5
    assert not [l for l in ax.get_lines() if list(l.get_ydata()) == [15.0, 15.0]]
    texts = legend_texts(ax)
    assert texts[0] == "放大倍数" and "在保余额（万元）" in texts       # the twin axis' bars too
    assert any(t.startswith("法定上限 15 倍") and "未画出" in t for t in texts)
    assert_legend_outside(fig, ax)


def test_a_cap_near_the_values_is_drawn_as_a_cap_not_as_a_target():
    fig = ri.guarantee_chart(guarantee_history([7.5, 8.2, 9.1], 10.0))
    ax = fig.axes[0]
    cap = next(l for l in ax.get_lines() if l.get_label().startswith("法定上限"))
    assert list(cap.get_ydata()) == [10.0, 10.0] and ax.get_ylim()[1] >= 10.0
    assert cap.get_linestyle() == "-." and cap.get_color() == ri.CAP_COLOUR != ri.TARGET_COLOUR
    assert cap.get_label() in legend_texts(ax)
    # the legend, above the axes, is clear of the cap's line
    legend, line = extent(fig, ax.get_legend()), extent(fig, cap)
    assert legend.y0 >= line.y1 - 1
    assert_legend_outside(fig, ax)


def test_limit_line_styles_a_target_and_a_cap_apart():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 2], label="数值")
    ri.limit_line(ax, 3.0, unit=" 倍")
    ri.limit_line(ax, 4.0, cap=True, unit=" 倍", data_max=2.0)
    ri.limit_line(ax, 9.0, cap=True, unit=" 倍", data_max=2.0)      # more than CAP_FAR × 2: named only
    report.legend_outside(ax)
    lines = {l.get_label(): l for l in ax.get_lines()}
    assert lines["目标 3 倍"].get_linestyle() == "--" and lines["上限 4 倍"].get_linestyle() == "-."
    assert "上限 9 倍（远高于本图数值，未画出）" in legend_texts(ax) and "上限 9 倍" not in lines


# ---------------------------------------------------------------------------------------------------------------
# Names of indicator rows


def test_rows_of_one_indicator_for_one_scope_are_told_apart_by_what_they_count():
    frame = pd.DataFrame([
        {"indicator": "plan_completion_rate", "scope": "city", "scope_id": "全市", "basis": "首贷户数：完成 10 户"},
        {"indicator": "plan_completion_rate", "scope": "city", "scope_id": "全市", "basis": "贷款余额增量：完成 5 万元"},
        {"indicator": "plan_completion_rate", "scope": "bank", "scope_id": "甲银行", "basis": "首贷户数：完成 1 户"},
        {"indicator": "credit_loan_share", "scope": "city", "scope_id": "全市", "basis": "无冒号的口径"},
        {"indicator": "credit_loan_share", "scope": "city", "scope_id": "全市", "basis": "无冒号的口径"},
    ])
    assert ri.figure_items(frame) == ["首贷户数", "贷款余额增量", "", "第 1 项", "第 2 项"]
    shown = ri._with_display(frame.assign(value=0.5, unit="比例", target=None, status=None))
    assert list(shown["name"][:3]) == ["信贷计划完成率（首贷户数）", "信贷计划完成率（贷款余额增量）", "信贷计划完成率"]
    assert shown["name"].iloc[3] != shown["name"].iloc[4]


def test_a_laid_out_chart_is_drawn_once_per_png_and_gives_the_same_image():
    """`tight_layout` leaves a placeholder layout engine, for which savefig would draw the figure a first time
    without rendering; `_png` drops it, so each PNG costs one draw, and the image is pixel for pixel the one the
    extra pass gave."""
    import io

    from matplotlib.figure import Figure

    def figure():
        report.setup_fonts()
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.plot([1, 2, 3], [3, 1, 2], label="首贷户数")
        ax.set_title("首贷户数随周期变化（当年累计）")
        report.legend_outside(ax)
        fig.tight_layout()
        return fig

    fig = figure()
    old = io.BytesIO()
    fig.savefig(old, format="png", metadata={"Software": None})
    plt.close(fig)
    draws = []
    original = Figure.draw

    def counting(self, renderer):
        draws.append(renderer)
        return original(self, renderer)

    Figure.draw = counting
    try:
        new = report._png(figure())
    finally:
        Figure.draw = original
        plt.close("all")
    assert len(draws) == 1
    # the same picture, pixel for pixel (saved with a faster zlib level, so not the same bytes)
    from PIL import Image, ImageChops

    ours, theirs = (Image.open(io.BytesIO(png)).convert("RGBA") for png in (new, old.getvalue()))
    assert ours.size == theirs.size and ImageChops.difference(ours, theirs).getbbox() is None


def test_charts_prepared_in_the_background_are_waited_for_before_the_first_chart(monkeypatch):
    """`taizhang run` has the kernel load pyplot and the font in a thread while the first notebook reads; a chart
    drawn meanwhile must not share pyplot with that thread, so `setup_fonts` waits for it to end."""
    import threading

    started, release = threading.Event(), threading.Event()
    prepare = report._prepare_charts

    def slow_prepare() -> None:
        started.set()
        release.wait(5)
        prepare()

    monkeypatch.setattr(report, "_prepare_charts", slow_prepare)
    report.prepare_charts(background=True)
    preparing = report._PREPARING
    assert started.wait(5) and preparing.is_alive()
    threading.Timer(0.2, release.set).start()
    report.setup_fonts()
    assert not preparing.is_alive()
