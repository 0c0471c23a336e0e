"""The stage notebooks' summaries (01–03): Chinese headings and values, in a useful order, from the tables the
stages write."""

from __future__ import annotations

import pandas as pd

from helpers.core import findings as fd
from helpers.pipeline import charts as report_charts
from helpers.present import report
from helpers.present import report_indicators
from helpers.indicators.targets import INDICATOR_COLUMNS


def test_files_overview_names_kinds_and_how_the_sender_was_found():
    files = pd.DataFrame({
        "file": ["a.xlsx", "b.xlsx", "c.xlsx", "d.xlsx", "e.docx"],
        "kinds": ["task", "task,noloan", "lending", "task", None],
        "unit_source": ["填报单位", "填报单位", "文件名", "填报单位", None],
    })
    shown = report.files_overview(files)
    assert list(shown.columns) == ["台账类型", "填报单位识别依据", "文件数"]
    rows = {(k, s): n for k, s, n in shown.itertuples(index=False)}
    assert rows == {("任务进展台账", "填报单位"): 2, ("任务进展台账、无贷户名单", "填报单位"): 1,
                    ("信贷数据台账", "文件名"): 1, ("未识别", "未识别"): 1}
    assert report.files_overview(None).empty


def test_submissions_overview_counts_on_time_late_and_missing():
    subs = pd.DataFrame({
        "unit": ["甲", "乙", "丙", "丁", "戊"],
        "kind": ["task", "task", "task", "task", "lending"],
        "received": [True, True, True, False, True],
        "on_time": pd.array([True, False, None, None, True], dtype="boolean"),   # 丙 sent no 填报日期
    })
    shown = report.submissions_overview(subs)
    assert shown.to_dict("records") == [
        {"台账": "任务进展台账", "应报单位": 4, "已收到": 3, "按时": 1, "迟报": 1, "未收到": 1},
        {"台账": "信贷数据台账", "应报单位": 1, "已收到": 1, "按时": 1, "迟报": 0, "未收到": 0},
    ]


def test_lights_overview_per_list_and_per_unit_most_red_first():
    status = pd.DataFrame({
        "unit": ["甲", "甲", "乙", "乙", "乙", "丙"],
        "list": ["全面清单", "重点清单", "全面清单", "全面清单", "重点清单", "全面清单"],
        "light": ["green", "grey", "red", "orange", "red", "orange"],
    })
    per_list = report.lights_overview(status)
    assert list(per_list.columns) == ["红", "橙", "黄", "绿", "灰", "合计"]
    assert per_list.loc["全面清单"].tolist() == [1, 2, 0, 1, 0, 4]
    assert per_list.index.name == "清单"
    per_unit = report.lights_overview(status, by="unit")
    assert per_unit.index.tolist() == ["乙", "丙", "甲"]        # 2 red; then 0 red 1 orange; then none
    assert per_unit.loc["乙", "红"] == 2 and per_unit.loc["甲", "合计"] == 2


def test_findings_counts_most_severe_first_in_chinese():
    found = fd.to_frame([
        fd.info("total_row_skipped", "合计/小计行不计入数据", file="a.xlsx", row=9),
        fd.warning("bad_identifier", "证件号码校验未通过", file="a.xlsx", row=5),
        fd.warning("task_text_edited", "任务内容与计划不一致", file="b.xlsx", row=4),
        fd.warning("bad_identifier", "证件号码应为 18 位", file="a.xlsx", row=6),
        fd.error("unit_unknown", "无法确定填报单位", file="c.xlsx"),
    ])
    assert report.findings_counts(found).to_dict("records") == [
        {"级别": "错误", "类别": "无法确定填报单位", "条数": 1},
        {"级别": "警告", "类别": "证件号码有误", "条数": 2},
        {"级别": "警告", "类别": "任务内容被改写", "条数": 1},
        {"级别": "提示", "类别": "合计/小计行", "条数": 1},
    ]
    assert report.findings_counts(None).empty


def _indicator(indicator, scope, scope_id, value, target, status, basis, unit):
    return dict(zip(INDICATOR_COLUMNS, [indicator, scope, scope_id, value, target, status, basis, None, None, unit,
                                        "2022-06-25"]))


def test_indicators_overview_and_coverage_in_chinese():
    assert INDICATOR_COLUMNS == ["indicator", "scope", "scope_id", "value", "target", "status", "basis", "numerator",
                                 "denominator", "unit", "cycle"]
    indicators = pd.DataFrame([
        _indicator("credit_loan_share", "city", "全市", 0.1617, 0.1508, "green", "信用贷款余额 ÷ 各项贷款余额", "比例"),
        _indicator("credit_loan_share", "bank", "工商银行", 0.12, None, None, "本行", "比例"),
        _indicator("first_loan_households", "city", "全市", 1399.0, 1222.0, "yellow", "首贷户", "户"),
        _indicator("first_loan_households", "county", "平城区", 140.0, None, None, "平城区", "户"),
        _indicator("guarantee_leverage", "city", "全市", 2.0079, 15.0, None, "在保余额 ÷ 净资产", "倍"),
    ])
    overview = report_indicators.indicators_overview(indicators)
    assert overview.to_dict("records") == [
        {"指标": "信用贷款占比", "本期": "16.2%", "目标": "15.1%", "状态": "绿", "口径": "信用贷款余额 ÷ 各项贷款余额"},
        {"指标": "首贷户数（当年累计，按贷款明细认定）", "本期": "1,399 户", "目标": "1,222 户", "状态": "黄", "口径": "首贷户"},
        {"指标": "融资担保放大倍数", "本期": "2.01 倍", "目标": "15.00 倍", "状态": "", "口径": "在保余额 ÷ 净资产"},
    ]
    coverage = report_indicators.indicators_coverage(indicators)
    assert list(coverage.columns) == ["全市", "县区", "银行"]
    assert coverage.loc["信用贷款占比"].tolist() == [1, 0, 1]
    assert coverage.loc["首贷户数（当年累计，按贷款明细认定）"].tolist() == [1, 1, 0]


def test_lights_chart_moves_counts_that_do_not_fit_their_segment_to_the_bar_end(datong):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("全面清单", "red", 3), ("全面清单", "green", 180), ("全面清单", "grey", 500),
            ("重点清单", "red", 40), ("重点清单", "orange", 2), ("重点清单", "green", 120)]
    status = pd.DataFrame([{"list": lst, "light": light, "unit": f"单位{i}"}
                           for lst, light, n in rows for i in range(n)])
    fig = report.lights_chart(status, datong)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"180", "500", "40", "120"} <= set(texts)          # wide segments keep their count inside
    assert "3" not in texts and "2" not in texts
    assert "红 3" in texts and "橙 2" in texts                 # narrow ones are named after the bar
    plt.close(fig)


def _history(values):
    return pd.DataFrame({"indicator": "credit_loan_share", "scope": "category", "scope_id": "国有大型银行",
                         "cycle": ["2022-05-10", "2022-05-25", "2022-06-10"], "value": values})


def test_a_kept_chart_is_the_chart_that_would_be_drawn_and_is_not_drawn_again(tmp_path, monkeypatch):
    """With `keep_charts`, a chart drawn from the same inputs before is shown from its PNG file: the same bytes as
    drawing it, without drawing. Other data is another chart; `prune` removes the charts the report did not use."""
    import matplotlib.figure

    from helpers.pipeline.paths import Folders

    def draw(values):
        return report_indicators.trend_by_scope_chart(_history(values), "credit_loan_share", "category", "信用贷款占比")

    drawn, drawn_phone = report._pngs(draw([0.10, 0.12, 0.13]))   # no cache: a figure
    folders = Folders.of(tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    monkeypatch.setattr(report, "_CHART_CACHE", None)
    charts = report_charts.keep_charts(folders.processed / "2022-06-10" / "charts", folders)
    first = draw([0.10, 0.12, 0.13])
    assert isinstance(first, report.ChartImage) and first.png == drawn and first.phone_png == drawn_phone
    assert len(list(charts.files.folder.glob("*.png"))) == 2                # the desktop and the phone layout

    def no_drawing(*args, **kwargs):
        raise AssertionError("drawn again")

    with monkeypatch.context() as patched:
        patched.setattr(matplotlib.figure.Figure, "savefig", no_drawing)
        charts = report_charts.keep_charts(charts.files.folder, folders)      # the next run
        again = draw([0.10, 0.12, 0.13])
        assert again.png == drawn and again.phone_png == drawn_phone
    charts = report_charts.keep_charts(charts.files.folder, folders)
    other = draw([0.10, 0.12, 0.14])                           # one value changed: drawn and kept anew
    assert other.png != drawn
    charts.prune()
    assert sorted(p.read_bytes() for p in charts.files.folder.glob("*.png")) == sorted([other.png, other.phone_png])
    # an argument whose content cannot be told: drawn each time, nothing kept
    assert charts.key(report_indicators.trend_by_scope_chart, (object(),), {}) is None
    assert charts.key(report_indicators.trend_by_scope_chart, (pd.DataFrame({"a": [[1, 2]]}),), {}) is None


def test_the_report_page_does_not_depend_on_cell_ids(tmp_path):
    """Papermill gives the parameters cell it adds a random id; the page is the same whatever the ids."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    pages = []
    for ids in (("a1", "b2"), ("zz9", "q")):
        nb = new_notebook(cells=[new_code_cell("x", id=ids[0]), new_code_cell("y", id=ids[1])])
        for cell, text in zip(nb.cells, ("<p>一</p>", "<p>二</p>")):
            cell.outputs = [new_output("display_data", data={"text/html": text})]
        path = tmp_path / f"{ids[0]}.ipynb"
        nbformat.write(nb, str(path))
        pages.append(report_charts.render_report(path))
    assert pages[0] == pages[1] and "一" in pages[0] and "二" in pages[0]


def test_a_chart_is_laid_out_again_for_a_phone_and_shown_as_one_picture():
    """On a phone (≤ 640 px) the browser takes the chart laid out 4.6 inches wide with the same fonts, so its
    title, legend and labels are whole and legible on the screen instead of shrunk or cut off."""
    import base64
    import io
    import re

    from PIL import Image

    fig = report_indicators.trend_by_scope_chart(_history([0.10, 0.12, 0.13]), "credit_loan_share", "category",
                                                "信用贷款占比")
    desktop, phone = report._pngs(fig)
    assert Image.open(io.BytesIO(desktop)).size[0] == 800
    assert Image.open(io.BytesIO(phone)).size[0] == round(report.PHONE_WIDTH * 100)
    html = report.chart_html(report.ChartImage(desktop, phone))
    assert html.startswith('<picture class="tz-chart"><source media="(max-width:640px)" srcset="data:image/png;base64,')
    source, img = re.findall(r'(?:srcset|src)="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(source) == phone and base64.b64decode(img) == desktop and 'alt="图表"' in html
