"""The leaders' report as its readers meet it: on paper (A4, lights that read without background graphics and in
black and white, no heading left at a page's foot), on a 390-px phone (no sideways scroll of the page, wide tables
in boxes of their own, a table of contents), and brief (section 三 grouped by task, twins merged, capped). The page
is read back as HTML and CSS; where Chromium is installed it is laid out at 390 px and measured."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from helpers.present import analyst, report
from tests.conftest import html_structure_problems


def status_rows(plan, rows) -> pd.DataFrame:
    out = []
    for alias, list_name, no, light in rows:
        unit = plan.find_unit(alias)
        out.append({"unit": unit.name, "unit_id": unit.id, "role": "牵头", "list": list_name, "task_no": no,
                    "light": light, "reason": "原因", "worse": False, "copied": False})
    return pd.DataFrame(out)


def css_rules(css: str, media: str) -> str:
    """The text of one @media block of the page's CSS."""
    start = css.index(media)
    depth, i = 0, css.index("{", start)
    for j in range(i, len(css)):
        depth += {"{": 1, "}": -1}.get(css[j], 0)
        if depth == 0:
            return css[i + 1:j]
    raise AssertionError(media)


def test_print_css_declares_a4_keeps_headings_with_their_text_and_lights_without_backgrounds():
    css = report.CSS
    assert re.search(r"@page\{size:A4", css)
    printed = css_rules(css, "@media print")
    assert "h1,h2,h3{break-after:avoid;page-break-after:avoid}" in printed
    assert "thead{display:table-header-group}" in printed
    # the chip: dark text on white with a coloured border, whatever the browser does with backgrounds
    assert ".light{background:#fff!important;color:#202124!important" in printed
    # and its word says which light it is, in black and white too
    assert report.light_chip("red", "市金融办").endswith(">红 市金融办</span>")
    assert report.light_chip("orange", "橙 3").endswith(">橙 3</span>")
    assert report.light_chip("green").endswith(">绿</span>")


def test_phone_css_and_tables_in_their_own_scroll_box():
    phone = css_rules(report.CSS, "@media (max-width:640px)")
    assert "table.tz th{white-space:normal}" in phone and ".tz-chart img{width:100%;height:auto}" in phone
    # a column of Chinese text is never squeezed to a character per line: the table scrolls in its box instead
    assert "table.tz td{min-width:4.5em}" in phone
    html = report.table(pd.DataFrame({"a": ["x"], "b": ["y"]}), {"a": "甲", "b": "乙"})
    assert html.startswith('<div class="tz-scroll"><table class="tz">') and html.endswith("</table></div>")
    assert ".tz-scroll{overflow-x:auto;max-width:100%}" in report.CSS


def test_contents_link_every_section_heading():
    body = ('<div id="cell-id=c1"><h1>报告</h1></div><div id="cell-id=c2"><h2 id="一、总体情况">一、总体情况</h2></div>'
            '<div id="cell-id=c3"><h2>六、信贷指标</h2><h3>小节</h3></div>')
    out = report.with_contents(body)
    assert out.index('<nav class="toc"') < out.index('<div id="cell-id=c2">') and out.index("<h1>") < out.index("<nav")
    assert '<a href="#s1">一、总体情况</a>' in out and '<a href="#s2">六、信贷指标</a>' in out
    assert '<h2 id="s1">一、总体情况</h2>' in out and '<h2 id="s2">六、信贷指标</h2>' in out
    assert html_structure_problems(report.page(out, "t")) == []


def test_red_orange_section_groups_by_task_merges_twins_and_caps(tiny_plan):
    status = status_rows(tiny_plan, [
        ("市金融办", "重点清单", 1, "red"), ("市金融办", "全面清单", 1, "orange"),     # twins: one red item
        ("工行大同分行", "全面清单", 1, "orange"), ("大同农商银行", "全面清单", 2, "red"),
        ("市财政局", "全面清单", 3, "green"),
    ])
    html = report.red_orange_table(status, tiny_plan)
    rows = re.findall(r"<tr>(.*?)</tr>", html)[1:]
    assert len(rows) == 2                                   # one line per task, the green one absent
    first = rows[0]
    assert "重点清单第 1 项（全面清单第 1 项）" in first and ">红 1<" in first and ">橙 1<" in first
    assert 'href="units/%E5%A4%A7%E5%90%8C%E5%B8%82' in first and ">红 市金融办<" in first
    assert "共 2 项任务、3 个单位 × 任务" in html
    capped = report.red_orange_table(status, tiny_plan, limit=1)
    assert "另有 1 项任务（1 个单位 × 任务）未列出" in capped
    assert "没有红灯或橙灯事项" in report.red_orange_table(status[status["light"] == "green"], tiny_plan)


def test_analyst_page_holds_the_rows_and_the_report_only_a_pointer(tiny_plan):
    subs = pd.DataFrame({"unit": ["甲单位", "乙单位"], "unit_id": ["finance_office", "finance_bureau"],
                         "kind": ["task", "task"], "received": [False, True],
                         "on_time": pd.array([None, False], dtype="boolean"), "report_date": [None, "2022-06-27"],
                         "files": ["", "b.xlsx"]})
    findings = pd.DataFrame([{"severity": "error", "code": "bad_id", "file": "a.xlsx", "sheet": "贷款明细", "row": 49,
                              "column": "证件号码", "unit": "甲单位", "message": "证件号码 110101199003071234 校验位不符"}])
    year_files = pd.DataFrame({"unit_id": ["finance_office"], "file": ["甲-0610.xlsx"], "cycle": ["2022-06-10"]})
    page = analyst.analyst_page(tiny_plan, "2022-06-25", subs, findings, year_files)
    assert "需催报的单位" in page and "未报送" in page and "迟报（填报日期 2022-06-27）" in page
    assert "2022-06-10：甲-0610.xlsx" in page and "第 49 行" in page
    assert "110101199003071234" not in page and html_structure_problems(page) == []
    pointer = analyst.analyst_link(findings)
    assert "共 1 条" in pointer and "analyst.html" in pointer and "第 49 行" not in pointer


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_a_wide_report_does_not_scroll_sideways_on_a_390_px_phone(tmp_path: Path):
    """Laid out by Chromium in a 390-px frame (a headless window is at least 500 px wide): the page's scroll
    width stays within the screen although a table has twelve columns of long names."""
    wide = pd.DataFrame({f"c{i}": ["中国银行保险监督管理委员会大同监管分局" * 2] for i in range(12)})
    body = ("<h1>报告</h1><h2>一、总体情况</h2>" + report.table(wide, {c: "很长的列名" * 3 for c in wide.columns})
            + "<p>" + report.light_chip("red", "市金融办") * 30 + "</p><h2>二、其他</h2>")
    (tmp_path / "r.html").write_text(report.page(report.with_contents(body), "t"), encoding="utf-8")
    (tmp_path / "frame.html").write_text(
        '<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="r.html" style="width:390px;height:700px;'
        'border:0"></iframe><script>document.getElementById("f").onload=function(){var d=this.contentDocument;'
        'document.body.setAttribute("data-sw",d.scrollingElement.scrollWidth);'
        'document.body.setAttribute("data-iw",this.contentWindow.innerWidth)};</script></body></html>',
        encoding="utf-8")
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                           "--dump-dom", (tmp_path / "frame.html").as_uri()],
                          capture_output=True, text=True, timeout=180)
    found = dict(re.findall(r'data-(sw|iw)="(\d+)"', done.stdout))
    assert found.get("iw") == "390", done.stderr[-2000:]
    assert int(found["sw"]) <= 390
