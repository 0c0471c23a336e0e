"""The 三色督办单 and the draft 情况通报: which units get which colour, twins as one item, and the .docx read back
with python-docx (and opened by LibreOffice, converted to PDF, where it is installed)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from docx import Document

from helpers.pipeline import outputs
from helpers.present import notices

CYCLE = "2022-06-25"


def status_row(plan, unit_alias: str, list_name: str, no: int, light: str, reason: str, due=None) -> dict:
    unit = plan.find_unit(unit_alias)
    return {"unit": unit.name, "unit_id": unit.id, "role": "牵头", "list": list_name, "task_no": no, "light": light,
            "reason": reason, "next_due": due, "next_milestone": None, "status": "滞后", "progress": "",
            "copied": False, "previous_light": "green", "worse": True}


@pytest.fixture
def status(tiny_plan) -> pd.DataFrame:
    rows = [
        # the office: red on 重点清单 1 and orange on its 全面清单 twin → one red item; yellow on 全面清单 2
        status_row(tiny_plan, "市金融办", "重点清单", 1, "red", "节点 2022-06-30 已过，未完成", dt.date(2022, 6, 30)),
        status_row(tiny_plan, "市金融办", "全面清单", 1, "orange", "进展状态为滞后"),
        status_row(tiny_plan, "市金融办", "全面清单", 2, "yellow", "节点 2022-07-10 将在下期报送日前到期",
                   dt.date(2022, 7, 10)),
        # the bank: only a coming deadline → a blue notice; its reason holds a resident ID, masked in the document
        status_row(tiny_plan, "工行大同分行", "全面清单", 2, "yellow", "联系人 110101199003071234 说明下期完成"),
        # the bureau: green only → no notice
        status_row(tiny_plan, "市财政局", "全面清单", 3, "green", "已完成"),
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def submissions(tiny_plan) -> pd.DataFrame:
    units = [tiny_plan.find_unit(a) for a in ("市金融办", "市财政局", "工行大同分行", "大同农商银行")]
    return pd.DataFrame({
        "unit": [u.name for u in units], "unit_id": [u.id for u in units], "kind": ["task"] * 4,
        "received": [True, True, True, False], "on_time": pd.array([True, False, True, None], dtype="boolean"),
        "report_date": ["2022-06-24", "2022-06-27", "2022-06-25", None], "files": ["a.xlsx", "b.xlsx", "c.xlsx", ""],
    })


def text_of(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def test_twins_are_one_item_and_colours_follow_the_worst_light(tiny_plan, status):
    items = notices.notice_items(tiny_plan, status)
    office = items[items["unit"] == "大同市人民政府金融工作办公室"]
    assert list(zip(office["key"], office["light"])) == [(("重点清单", 1), "red"), (("全面清单", 2), "yellow")]
    found = {n.unit.name: n.level for n in notices.notices(tiny_plan, status)}
    assert found == {"大同市人民政府金融工作办公室": "red", "中国工商银行大同分行": "yellow"}
    assert notices.task_title(tiny_plan, ("重点清单", 1)).startswith("重点清单第 1 项（全面清单第 1 项）：建立市县")


def test_notice_document_reads_back(tiny_plan, status, tmp_path):
    office, bank = notices.notices(tiny_plan, status)
    doc = notices.notice_document(tiny_plan, office, CYCLE, 1)
    path = tmp_path / notices.notice_file_name(office)
    doc.save(path)
    assert path.name == "红色督办单-大同市人民政府金融工作办公室.docx"
    back = Document(path)
    assert back.paragraphs[0].text == "红色督办单"
    assert str(back.paragraphs[0].runs[0].font.color.rgb) == "C00000"
    text = text_of(back)
    assert "大同市人民政府金融工作办公室：" in text and "编号：20220625-001" in text
    rows = [[c.text for c in r.cells] for r in back.tables[0].rows]
    assert rows[0] == ["序号", "等级", "任务", "下一节点", "督办事由"]
    assert [r[1] for r in rows[1:]] == ["红色", "蓝色"] and rows[1][3] == "2022-06-30"
    assert "重点清单第 1 项（全面清单第 1 项）" in rows[1][2] and "全面清单第 2 项" in rows[2][2]
    assert "2022年7月10日" in text            # the next report date: the reply is due with the next ledger
    section = back.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7
    blue = text_of(notices.notice_document(tiny_plan, bank, CYCLE, 2))
    assert blue.startswith("蓝色督办单") and "110101199003071234" not in blue and "1101" in blue


def test_bulletin_reads_back(tiny_plan, status, submissions, tmp_path):
    indicators = pd.DataFrame({"indicator": ["first_loan_households", "credit_loan_share"], "scope": ["city", "city"],
                               "scope_id": ["全市", "全市"], "value": [1234.0, 0.256], "target": [None, 0.3],
                               "status": [None, "orange"], "basis": ["", ""], "unit": ["户", "比例"]})
    path = tmp_path / "b.docx"
    notices.bulletin_document(tiny_plan, CYCLE, submissions, status, indicators).save(path)
    text = text_of(Document(path))
    assert "台账报送及推进情况的通报" in text and "（2022年6月25日）" in text
    assert "本期应报台账 4 份，已收到 3 份，按时报送率 50.0%" in text   # 2 on time of the 4 due
    assert "未报送的单位（1 份）：山西大同农村商业银行（任务进展台账）" in text
    assert "迟报的单位（1 份）：大同市财政局（任务进展台账）" in text
    assert "红色督办（逾期未完成）1 项，黄色督办（进度滞后）0 项，蓝色督办（节点临近）2 项" in text
    assert "（1）重点清单第 1 项（全面清单第 1 项）" in text and "涉及单位：大同市人民政府金融工作办公室" in text
    assert "1,234 户" in text and "25.6%（目标 30.0%）" in text


def test_write_documents_and_libreoffice_opens_them(tiny_plan, status, submissions, tmp_path):
    from helpers.pipeline.catalog import Catalog
    from helpers.pipeline.paths import Folders
    from helpers.pipeline.run import Run

    folders = Folders.of(tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    catalog = Catalog(folders, tiny_plan.report_days)
    catalog.write(CYCLE, "task_status", status)
    catalog.write(CYCLE, "submissions", submissions)
    run = Run(tiny_plan, folders, CYCLE, catalog)
    paths = outputs.write_documents(run)
    names = sorted(p.relative_to(folders.cycle_reports(CYCLE)).as_posix() for p in paths)
    assert names == ["情况通报（草稿）.docx", "督办单/红色督办单-大同市人民政府金融工作办公室.docx",
                     "督办单/蓝色督办单-中国工商银行大同分行.docx"]
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    out = tmp_path / "pdf"
    done = subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
                           "--convert-to", "pdf", "--outdir", str(out), *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    pdfs = sorted(p.name for p in out.glob("*.pdf"))
    assert len(pdfs) == 3, done.stderr
    assert all((out / name).read_bytes().startswith(b"%PDF") for name in pdfs)
