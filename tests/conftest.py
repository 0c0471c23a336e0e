"""Shared fixtures: a tiny plan in the real format, the real plan files, and a messy progress workbook."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from helpers.plan.model import Plan, load_plan

REPO = Path(__file__).resolve().parents[1]

TINY_PLAN = textwrap.dedent(
    """
    plan:
      id: tiny-2022
      title: 小型测试计划
      year: 2022
      report_days: [10, 25]
      reporting_to: 市金融办
    units:
      - {id: finance_office, name: 大同市人民政府金融工作办公室, aliases: [市金融办], kind: government}
      - {id: finance_bureau, name: 大同市财政局, aliases: [市财政局], kind: government}
      - {id: icbc, name: 中国工商银行大同分行, aliases: [工行大同分行], kind: bank, category: 国有大型银行}
      - {id: rcb, name: 山西大同农村商业银行, aliases: [大同农商银行], kind: bank, category: 地方法人银行}
      - {id: pingcheng, name: 平城区人民政府, aliases: [平城区], kind: county}
    collectives:
      - {name: 各银行机构, members: {kind: bank}}
    ledgers:
      task: {responsible: true}
    measures:
      - {no: 1, numeral: 一, title: 首贷, text: 开展首贷户拓展专项行动。, units: [finance_office, 各银行机构]}
      - {no: 2, numeral: 二, title: 担保, text: 完善担保。, units: [finance_bureau]}
    lists:
      - name: 全面清单
        columns: {no: 序号, group: 工作要求, text: 主要任务, deadline: 完成时限, actions: 细化举措,
                  goal: 年度目标和效果, progress: 双周进展情况, status: 进展状态}
        tasks:
          - {no: 1, group: 开展首贷户拓展专项行动, text: 建立市县小微企业及个体工商户无贷户名单，推送银行业机构。,
             measure: 1, lead: [finance_office], units: [各银行机构]}
          - {no: 2, group: 开展首贷户拓展专项行动, text: 鼓励设立首贷中心及首贷户服务站点，推动首贷户数量持续增加。,
             measure: 1, lead: [finance_office], units: [各银行机构]}
          - {no: 3, group: 完善担保, text: 参照省级办法制定大同市相关办法。, measure: 2, lead: [finance_bureau]}
      - name: 重点清单
        columns: {no: 序号, group: 工作要求, text: 主要任务, deadline: 完成时限, actions: 细化举措,
                  goal: 年度目标和效果, progress: 双周进展情况, status: 进展状态}
        tasks:
          - no: 1
            group: 开展首贷户拓展专项行动
            text: 建立市县小微企业及个体工商户无贷户名单，推送银行业机构。
            measure: 1
            lead: [finance_office]
            units: [各银行机构]
            same_as: {list: 全面清单, no: 1}
            deadline: 4月末前形成工作方案；6月末前完成推送。
            milestones:
              - {text: 4月末前形成工作方案, due: 2022-04-30, rule: X月末前, interpreted: false}
              - {text: 6月末前完成推送, due: 2022-06-30, rule: X月末前, interpreted: false}
          - no: 2
            group: 完善担保
            text: 参照省级办法制定大同市相关办法。
            measure: 2
            lead: [finance_bureau]
            deadline: 年内持续推进。
            milestones:
              - {text: 年内持续推进, due: null, rule: 年内持续推进, interpreted: false}
            ongoing: true
    targets: []
    bank_plans: []
    """
)


@pytest.fixture
def tiny_plan_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-2022.yaml"
    path.write_text(TINY_PLAN, encoding="utf-8")
    return path


@pytest.fixture
def tiny_plan(tiny_plan_path: Path) -> Plan:
    return load_plan(tiny_plan_path)


@pytest.fixture(scope="session")
def datong() -> Plan:
    return load_plan(REPO / "data/plan/datong-2022.yaml")


@pytest.fixture(scope="session")
def shanxi() -> Plan:
    return load_plan(REPO / "data/plan/shanxi-sme.yaml")


def write_progress_workbook(
    path: Path,
    *,
    unit_text: str | None,
    report_date: object,
    sheets: dict[str, list[list[object]]],
    title_rows: int = 1,
    header: tuple[str, ...] = ("序号", "工作要求", "主要任务", "完成时限", "细化举措", "年度目标和效果", "双周进展情况", "进展状态"),
    merge_group: bool = True,
    footer: list[object] | None = None,
) -> Path:
    """A progress ledger as units send it: title line(s), 填报单位 and 填报日期 lines, the header, rows with the
    工作要求 cell merged over the rows of its group, a blank row, `footer` (「填报人：…」) and a 注 line at the bottom."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for i in range(title_rows):
            ws.append([f"全市强化市场主体倍增金融业要素服务保障行动计划抓落实{name}" if i == 0 else "（双周进展）"])
        ws.append([f"填报单位：{unit_text}" if unit_text else "填报单位：", None, None, "填报日期：", report_date])
        header_row = ws.max_row + 1
        ws.append(list(header))
        first = ws.max_row + 1
        for row in rows:
            ws.append(row)
        if merge_group and len(rows) > 1 and rows[0][1] and all(r[1] in (None, "") for r in rows[1:2]):
            ws.merge_cells(start_row=first, end_row=first + 1, start_column=2, end_column=2)
        ws.append([])
        if footer:
            ws.append(list(footer))
        ws.append(["注：进展状态请从下拉列表中选择。"])
        assert header_row > 1
    wb.save(path)
    return path


@pytest.fixture
def cycle_date() -> dt.date:
    return dt.date(2022, 6, 25)


_VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def html_structure_problems(text: str) -> list[str]:
    """What a browser would read differently from what was meant: a non-void element written self-closing
    (`<a ... />` is an <a> left open, and everything after it becomes part of the link), a link opened inside
    another, or a link never closed."""
    from html.parser import HTMLParser

    problems: list[str] = []

    class Checker(HTMLParser):
        open_links = 0

        def handle_startendtag(self, tag, attrs):
            if tag not in _VOID_ELEMENTS:
                problems.append(f"self-closing <{tag}> at line {self.getpos()[0]}")

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                if self.open_links:
                    problems.append(f"<a> inside <a> at line {self.getpos()[0]}")
                self.open_links += 1

        def handle_endtag(self, tag):
            if tag == "a":
                self.open_links = max(0, self.open_links - 1)

    checker = Checker(convert_charrefs=True)
    checker.feed(text)
    checker.close()
    if checker.open_links:
        problems.append(f"{checker.open_links} <a> never closed")
    return problems
