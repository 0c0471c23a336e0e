"""Builders of the hostile corpus (issue #6): ledgers of every kind as units send them, and the broken, malformed
and hostile files a finance office's inbox also holds. Everything is generated into a folder the test gives (a
cycle folder under tmp_path); nothing here reads or writes anything else.

Layout of every ledger written here: row 1 a title, row 2 填报单位 … 填报日期, row 3 the header, data from row 4
(`FIRST_ROW`), so a test can name the Excel row of the i-th data row as `FIRST_ROW + i`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from openpyxl import Workbook

from helpers.ingest.formats import APPLICATIONS, BANK_SUMMARY, GUARANTEE_SUMMARY, GUARANTEES, LOANS, NOLOAN_LIST
from helpers.core.identifiers import make_resident_id, make_uscc
from helpers.plan.model import Plan
from helpers.ingest.tables import SheetFormat

CYCLE = "2022-06-25"
REPORT_DATE = "2022-06-24"
FIRST_ROW = 4
TASK_HEADER = ("序号", "工作要求", "主要任务", "完成时限", "细化举措", "年度目标和效果", "双周进展情况", "进展状态")

# Public valid example codes (DOMAIN.md) and a few generated ones.
USCC_A = "91110000600037341L"
USCC_B = "9144030071526726XG"
USCC_C = make_uscc("91140200MA0K00001")
USCC_D = make_uscc("91140200MA0K00002")
USCC_E = make_uscc("91140200MA0K00003")
RESIDENT_A = make_resident_id("140202", dt.date(1985, 3, 12), 123)


def headers(fmt: SheetFormat) -> list[str]:
    """The official header texts of a fixed format, in its column order."""
    return [c.title for c in fmt.columns]


# ---------------------------------------------------------------------------------------------------------------
# Rows of each ledger kind, as role → value dicts (the roles of `helpers.formats`)


def task_rows(plan: Plan, unit_id: str, list_name: str, *, limit: int = 3, progress: str = "本期推进第{no}项",
              status: Any = "正常推进") -> list[dict[str, Any]]:
    tasks = [t for t in plan.task_list(list_name).tasks if unit_id in t.responsible][:limit]
    return [{"no": t.no, "group": t.group, "text": t.text, "deadline": t.deadline, "actions": None, "goal": None,
             "progress": progress.format(no=t.no), "status": status} for t in tasks]


def summary_row(bank: str, **over: Any) -> dict[str, Any]:
    row = {"bank": bank, "total_loans": 52000.0, "credit_loans": 9100.0, "credit_households": 310, "sme_loans": 8800.0,
           "sme_households": 420, "sme_loans_last_year": 6500.0, "sme_loans_year_start": 7600.0,
           "first_loan_households_reported": 12, "renewal_balance": 300.0, "sme_long_term_loans": 2100.0,
           "transfer_pricing_bp": 60, "credit_loans_year_start": 8000.0, "total_loans_year_start": 50000.0}
    return {**row, **over}


def loan_row(borrower: str = "大同市示例商贸有限公司", borrower_id: Any = USCC_A, **over: Any) -> dict[str, Any]:
    row = {"borrower": borrower, "borrower_id": borrower_id, "borrower_type": "小微企业", "county": "平城区",
           "loan_date": dt.datetime(2022, 6, 15), "maturity_date": dt.datetime(2023, 6, 14), "amount": 100.0,
           "credit_line": 200.0, "guarantee_method": "信用", "is_first_loan": "是", "is_renewal": "否",
           "interest_rate": 4.35}
    return {**row, **over}


def application_row(applicant: str = "大同市示例商贸有限公司", applicant_id: Any = USCC_A, **over: Any) -> dict[str, Any]:
    row = {"applicant": applicant, "applicant_id": applicant_id, "applied_on": dt.datetime(2022, 6, 13),
           "replied_on": dt.datetime(2022, 6, 16), "result": "授信"}
    return {**row, **over}


def noloan_row(name: str = "大同市示例餐饮有限公司", entity_id: Any = USCC_B, **over: Any) -> dict[str, Any]:
    row = {"name": name, "entity_id": entity_id, "entity_type": "小微企业", "county": "平城区", "industry": "餐饮",
           "need": 50.0, "pushed_to": "工行大同分行"}
    return {**row, **over}


def institution_row(name: str = "市财信担保公司", **over: Any) -> dict[str, Any]:
    row = {"institution": name, "registered_capital": 50000.0, "net_assets": 52000.0, "in_force_balance": 120000.0,
           "in_force_count": 300, "new_this_year": 40000.0, "compensated_this_year": 300.0,
           "released_this_year": 20000.0}
    return {**row, **over}


def guarantee_row(guaranteed: str = "大同市示例制造有限公司", guaranteed_id: Any = USCC_C, **over: Any) -> dict[str, Any]:
    row = {"guaranteed": guaranteed, "guaranteed_id": guaranteed_id, "guaranteed_type": "小微企业", "amount": 500.0,
           "fee_rate": 1.2, "partner_bank": "工行大同分行", "start_date": dt.datetime(2022, 3, 1),
           "end_date": dt.datetime(2023, 2, 28), "risk_share": 20}
    return {**row, **over}


# ---------------------------------------------------------------------------------------------------------------
# Writers


SheetSpec = tuple[Sequence[str], Sequence[Sequence[Any]]]   # (header texts, data rows as lists)


def rows_of(fmt_or_header: SheetFormat | Sequence[str], records: Iterable[Mapping[str, Any]],
            roles: Sequence[str] | None = None) -> SheetSpec:
    """(header, rows) for a format (or the task header, with `roles` naming its columns)."""
    if isinstance(fmt_or_header, SheetFormat):
        header = headers(fmt_or_header)
        roles = [c.role for c in fmt_or_header.columns]
    else:
        header = list(fmt_or_header)
        roles = list(roles or ["no", "group", "text", "deadline", "actions", "goal", "progress", "status"])
    return header, [[rec.get(role) for role in roles] for rec in records]


def sheet_grid(title: str, unit_text: str | None, report_date: Any, spec: SheetSpec) -> list[list[Any]]:
    """The cells of one sheet: title, 填报单位/填报日期 line, header, data rows (from `FIRST_ROW`)."""
    header, rows = spec
    return [[title], [f"填报单位：{unit_text}" if unit_text else "填报单位：", None, None, "填报日期：", report_date],
            list(header), *[list(r) for r in rows]]


def _text_stays_text(ws) -> None:
    """Text starting with "=" stays text, as Excel stores what a unit typed after an apostrophe (openpyxl would
    write a formula). Real formulas are added by a writer's `edit` callback, which runs after this."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
                cell.quotePrefix = True


def write_xlsx(path: Path, unit_text: str | None, sheets: Mapping[str, SheetSpec], *,
               report_date: Any = REPORT_DATE, title: str = "台账", hidden_sheets: Iterable[str] = (),
               hidden_rows: Mapping[str, Iterable[int]] | None = None, edit=None) -> Path:
    """An .xlsx ledger (openpyxl). `edit(wb)` may change the workbook before it is saved (a str starting with "="
    assigned there becomes a formula without a cached result, as openpyxl writes them)."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, spec in sheets.items():
        ws = wb.create_sheet(name)
        for row in sheet_grid(f"{title}（{name}）", unit_text, report_date, spec):
            ws.append(row)
        if name in set(hidden_sheets):
            ws.sheet_state = "hidden"
        for r in (hidden_rows or {}).get(name, ()):
            ws.row_dimensions[r].hidden = True
        _text_stays_text(ws)
    if edit is not None:
        edit(wb)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def task_ledger(path: Path, plan: Plan, unit_id: str, *, unit_text: str | None = None, report_date: Any = REPORT_DATE,
                lists: Sequence[str] = ("全面清单", "重点清单"), limit: int = 3, progress: str = "本期推进第{no}项",
                status: Any = "正常推进", rows: Mapping[str, list[dict]] | None = None, **kw: Any) -> Path:
    """A 任务进展台账 of `unit_id` with its first `limit` tasks of each list (`rows` overrides per list)."""
    sheets = {}
    for name in lists:
        recs = (rows or {}).get(name) or task_rows(plan, unit_id, name, limit=limit, progress=progress, status=status)
        if recs:
            sheets[name] = rows_of(TASK_HEADER, recs)
    unit_text = unit_text if unit_text is not None else plan.unit(unit_id).name
    return write_xlsx(path, unit_text, sheets, report_date=report_date, title="任务进展台账", **kw)


def lending_ledger(path: Path, unit_text: str, *, summary: list[dict] | None = None, loans: list[dict] | None = None,
                   applications: list[dict] | None = None, report_date: Any = REPORT_DATE, **kw: Any) -> Path:
    """A 信贷数据台账: 主要指标, 贷款明细 and (when given) 首贷申请."""
    sheets = {"主要指标": rows_of(BANK_SUMMARY, summary if summary is not None else [summary_row(unit_text)]),
              "贷款明细": rows_of(LOANS, loans if loans is not None else [loan_row(), loan_row("大同市示例物流有限公司", USCC_B)])}
    if applications is not None:
        sheets["首贷申请"] = rows_of(APPLICATIONS, applications)
    return write_xlsx(path, unit_text, sheets, report_date=report_date, title="信贷数据台账", **kw)


def noloan_ledger(path: Path, unit_text: str, *, rows: list[dict] | None = None, report_date: Any = REPORT_DATE,
                  **kw: Any) -> Path:
    recs = rows if rows is not None else [noloan_row(), noloan_row("大同市示例建材有限公司", USCC_D)]
    return write_xlsx(path, unit_text, {"无贷户名单": rows_of(NOLOAN_LIST, recs)}, report_date=report_date,
                      title="无贷户名单", **kw)


def guarantee_ledger(path: Path, unit_text: str, *, summary: list[dict] | None = None,
                     detail: list[dict] | None = None, report_date: Any = REPORT_DATE, **kw: Any) -> Path:
    sheets = {"机构概况": rows_of(GUARANTEE_SUMMARY, summary if summary is not None else [institution_row()]),
              "担保明细": rows_of(GUARANTEES, detail if detail is not None else [guarantee_row(),
                                                                             guarantee_row("大同市示例农业合作社", USCC_E,
                                                                                           guaranteed_type="三农")])}
    return write_xlsx(path, unit_text, sheets, report_date=report_date, title="担保业务台账", **kw)


def task_csv(path: Path, plan: Plan, unit_id: str, encoding: str, *, list_name: str = "全面清单",
             progress: str = "CSV 报送第{no}项") -> Path:
    """A task ledger exported as CSV (one list; the list's name in the file name, as Excel names the sheet)."""
    spec = rows_of(TASK_HEADER, task_rows(plan, unit_id, list_name, progress=progress))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in sheet_grid(f"任务进展台账（{list_name}）", plan.unit(unit_id).name, REPORT_DATE, spec):
        writer.writerow(["" if v is None else v for v in row])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def task_xls(path: Path, plan: Plan, unit_id: str, *, list_name: str = "全面清单", progress: str = "XLS 报送第{no}项") -> Path:
    """A task ledger as an old .xls (BIFF8), written with the small writer of tests/test_sources.py."""
    from tests.test_sources import write_xls

    spec = rows_of(TASK_HEADER, task_rows(plan, unit_id, list_name, progress=progress))
    grid = sheet_grid(f"任务进展台账（{list_name}）", plan.unit(unit_id).name, REPORT_DATE, spec)
    cells = {(r, c): v for r, row in enumerate(grid) for c, v in enumerate(row) if v is not None}
    return write_xls(path, [(list_name, False, cells, set(), [])])


def as_xlsm(path: Path) -> Path:
    """Turn an .xlsx written by openpyxl into what Excel writes for a macro-enabled workbook: the macro-enabled
    content type and a vbaProject.bin part (bytes that are no real VBA project: the suite never runs macros)."""
    with zipfile.ZipFile(path) as src:
        items = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in items:
            if name == "[Content_Types].xml":
                data = data.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
                data = data.replace(b"</Types>", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            if name == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdVBA" Type="http://schemas.microsoft.com/'
                                    b'office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>')
            out.writestr(name, data)
        out.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    return path


def encrypted_workbook(path: Path) -> Path:
    """What Excel writes for a password-protected .xlsx: an OLE container with EncryptionInfo/EncryptedPackage."""
    from tests.test_sources import compound_file

    path.write_bytes(compound_file({"EncryptionInfo": b"\x04\x00\x04\x00" + b"\0" * 60,
                                    "EncryptedPackage": b"\0" * 5000}))
    return path


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def huge_sheet_workbook(path: Path, normal: SheetSpec, normal_name: str, unit_text: str, *, cells: int,
                        width: int = 1000) -> Path:
    """A workbook with a normal sheet and a sheet of `cells` non-empty cells (`width` to a row), its XML written
    straight into the zip, streamed (openpyxl would take minutes). The cells carry no reference, as some
    exporters write them."""
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet(normal_name)
    for row in sheet_grid(f"台账（{normal_name}）", unit_text, REPORT_DATE, normal):
        ws.append(row)
    wb.create_sheet("附表")
    wb.save(path)
    with zipfile.ZipFile(path) as src:
        items = [(info.filename, src.read(info)) for info in src.infolist()]
    huge_part = "xl/worksheets/sheet2.xml"
    row_xml = b"<row>" + b"<c><v>1</v></c>" * width + b"</row>"
    full, rest = divmod(cells, width)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for name, data in items:
            if name != huge_part:
                out.writestr(name, data)
        with out.open(huge_part, "w", force_zip64=True) as dst:
            dst.write(f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
            block = row_xml * 100
            for _ in range(full // 100):
                dst.write(block)
            dst.write(row_xml * (full % 100))
            if rest:
                dst.write(b"<row>" + b"<c><v>1</v></c>" * rest + b"</row>")
            dst.write(b"</sheetData></worksheet>")
    return path


# ---------------------------------------------------------------------------------------------------------------
# The end-to-end hostile cycle: injection payloads and personal data typed by units, mixed with broken files

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="x',
    "{{7*7}}",
    "$\\alpha$",
    "**bold** [x](javascript:alert(1))",
    '=HYPERLINK("http://evil","点我")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
)
# Individuals (borrowers, applicants, listed households, guaranteed parties) and their valid resident IDs.
PEOPLE = {
    "张伟明": make_resident_id("140202", dt.date(1985, 3, 12), 123),
    "李秀英": make_resident_id("140203", dt.date(1990, 7, 1), 456),
    "王建国": make_resident_id("140212", dt.date(1978, 11, 30), 789),
    "赵丽华": make_resident_id("140221", dt.date(1995, 2, 28), 12),
    "孙志强": make_resident_id("140222", dt.date(1969, 9, 9), 345),
}
FREE_TEXT_ID = make_resident_id("140224", dt.date(1988, 8, 8), 88)   # typed into a progress text
PREVIOUS_CYCLE = "2022-06-10"


def hostile_raw(raw: Path, plan: Plan) -> dict[str, Any]:
    """Two cycles of a raw folder (2022-06-10 and 2022-06-25) holding payloads and personal data everywhere units
    type text, plus broken files. Returns what was planted, for the assertions."""
    previous, cycle = raw / PREVIOUS_CYCLE, raw / CYCLE
    office = "finance_office"
    tasks = [t for t in plan.task_list("全面清单").tasks if office in t.responsible][:len(PAYLOADS) + 1]
    texts = [f"已走访个体工商户（身份证 {FREE_TEXT_ID}）", *PAYLOADS]
    recs = [{"no": t.no, "group": t.group, "text": t.text, "deadline": t.deadline, "actions": p, "goal": None,
             "progress": p, "status": "正常推进"} for t, p in zip(tasks, texts)]
    # the same progress in both cycles: the report lists it as copied, the templates pre-fill it
    task_ledger(previous / "市金融办台账.xlsx", plan, office, lists=("全面清单",), rows={"全面清单": recs},
                report_date="2022-06-09")
    task_ledger(cycle / "市金融办台账.xlsx", plan, office, lists=("全面清单",), rows={"全面清单": recs})

    # payloads in 填报单位 and file names (no "/" can be in a file name)
    task_ledger(cycle / "<img src=x onerror=alert(1)>市税务局.xlsx", plan, "tax_datong",
                unit_text="国家税务总局大同市税务局<img src=x onerror=alert(1)>")
    task_ledger(cycle / "<script>alert(1)市人社局.xlsx", plan, "hrss_datong", unit_text='" onmouseover="x')
    task_ledger(cycle / "{{7*7}}$\\alpha$某某小额贷款公司.xlsx", plan, "hrss_datong",
                unit_text="{{7*7}}$\\alpha$某某小额贷款公司<script>alert(1)</script>")
    task_ledger(cycle / '=HYPERLINK("http_evil","点我")市发改委.xlsx', plan, "ndrc_datong",
                progress='=HYPERLINK("http://evil","点我")第{no}项')
    task_ledger(cycle / "@SUM(A1)+1+1-2+3市工信局.xlsx", plan, "industry_it", progress="@SUM(A1)第{no}项")
    task_ledger(cycle / "**bold** [x](javascript_alert(1))市科技局.xlsx", plan, "science_tech",
                progress="**bold** [x](javascript:alert(1))第{no}项")

    # lending: an unknown bank named with a payload; individuals with valid resident IDs
    names = list(PEOPLE)
    lending_ledger(
        cycle / "工行大同分行信贷台账.xlsx", "工行大同分行",
        summary=[summary_row("工行大同分行"), summary_row("<script>alert(1)</script>银行")],
        loans=[loan_row(),
               loan_row("<img src=x onerror=alert(1)>有限公司", USCC_B),
               loan_row(names[0], PEOPLE[names[0]], borrower_type="个体工商户", loan_date=dt.datetime(2022, 5, 1)),
               loan_row(names[1], PEOPLE[names[1]], borrower_type="农户", is_renewal="是"),
               loan_row(names[1], None, borrower_type="农户"),
               loan_row("**bold** [x](javascript:alert(1))商贸有限公司", USCC_C, county='" onmouseover="x')],
        applications=[application_row(names[2], PEOPLE[names[2]], applied_on=dt.datetime(2022, 6, 20),
                                      replied_on=dt.datetime(2022, 6, 13))],
        edit=lambda wb: [wb.create_sheet("<img src=x onerror=alert(1)>").append(row)
                         for row in (["说明", "<script>alert(1)</script>"], ["口径", "万元"])])
    noloan_ledger(cycle / "平城区无贷户名单.xlsx", "平城区",
                  rows=[noloan_row(), noloan_row(names[3], PEOPLE[names[3]], entity_type="个体工商户", county="云冈区",
                                                 pushed_to="<script>alert(1)</script>"),
                        noloan_row(names[3], PEOPLE[names[3]], entity_type="个体工商户")])
    guarantee_ledger(cycle / "财信担保台账.xlsx", "市财信担保公司",
                     detail=[guarantee_row(), guarantee_row(names[4], PEOPLE[names[4]], guaranteed_type="个体工商户",
                                                            partner_bank="<img src=x onerror=alert(1)>", risk_share=150)])

    # broken files from the corpus
    (cycle / "台账.xlsx").write_text("这不是表格", encoding="utf-8")
    encrypted_workbook(cycle / "加密台账.xlsx")
    Workbook().save(cycle / "空白.xlsx")
    (cycle / "~$市金融办台账.xlsx").write_bytes(b"\x0b" + "市金融办".encode("utf-16-le") + b"\0" * 140)
    task_csv(cycle / "市国资委全面清单.csv", plan, "sasac_datong", "gbk")
    task_xls(cycle / "市交通局.xls", plan, "transport_datong")
    task_ledger(cycle / "市市场监管局" / "6月" / "台账.xlsx", plan, "market_regulation",
                edit=lambda wb: wb["全面清单"].cell(1048576, 16384, "x"))
    task_ledger(cycle / "市市场监管局0620.xlsx", plan, "market_regulation", report_date="2022-06-20")
    return {"payloads": PAYLOADS, "people": PEOPLE, "free_text_id": FREE_TEXT_ID}
