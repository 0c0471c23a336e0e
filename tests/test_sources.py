"""Reading raw files: `sources.list_cycle_files` and `sources.read_workbook` on the files units really send.

Fixtures are generated in tmp_path: with openpyxl, by editing the XML inside an .xlsx, by writing raw bytes, and
(for .xls, which nothing here can write) with the small BIFF8 + compound-file writer below.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook as OpenpyxlWorkbook

from helpers.ingest import read_xlsx
from helpers.ingest import sheets as sources_sheets
from helpers.ingest.sheets import Sheet
from helpers.ingest.sources import list_cycle_files, read_workbook

SRC = Path(__file__).resolve().parents[1] / "src"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


# ---------------------------------------------------------------------------------------------------------------
# Fixture writers


def rewrite_part(path: Path, part: str, edit) -> Path:
    """Rewrite one part of a zip package in place: `edit(text) -> text`."""
    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in items:
            if info.filename == part:
                data = edit(data.decode("utf-8")).encode("utf-8")
            out.writestr(info.filename, data)
    return path


def write_raw_xlsx(path: Path, sheets: dict[str, str], *, shared: list[str] | None = None, styles: str | None = None,
                   states: dict[str, str] | None = None, date1904: bool = False) -> Path:
    """An .xlsx written by hand: `sheets` maps sheet name → the <sheetData> content (or a whole worksheet XML)."""
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    names = list(sheets)
    sheet_list = "".join(
        f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"{" state=" + chr(34) + states[n] + chr(34) if states and n in states else ""}/>'
        for i, n in enumerate(names))
    wb_rels = "".join(f'<Relationship Id="rId{i + 1}" Type="{rels}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                      for i in range(len(names)))
    wb_rels += f'<Relationship Id="rIdS" Type="{rels}/styles" Target="styles.xml"/>'
    if shared is not None:
        wb_rels += f'<Relationship Id="rIdT" Type="{rels}/sharedStrings" Target="sharedStrings.xml"/>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.sheet.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{rels}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        pr = '<workbookPr date1904="1"/>' if date1904 else ""
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN_NS}" xmlns:r="{rels}">{pr}<sheets>{sheet_list}</sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{wb_rels}</Relationships>')
        z.writestr("xl/styles.xml", styles or f'<styleSheet xmlns="{MAIN_NS}"><cellXfs count="1"><xf numFmtId="0"/></cellXfs></styleSheet>')
        if shared is not None:
            z.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN_NS}" count="{len(shared)}" uniqueCount="{len(shared)}">'
                       + "".join(shared) + "</sst>")
        for i, n in enumerate(names):
            body = sheets[n]
            if "worksheet" not in body:
                body = f'<worksheet xmlns="{MAIN_NS}"><sheetData>{body}</sheetData></worksheet>'
            z.writestr(f"xl/worksheets/sheet{i + 1}.xml", body)
    return path


def _biff_record(typ: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", typ, len(data)) + data


def biff8_stream(sheets: list[tuple[str, bool, dict, set, list]]) -> bytes:
    """A BIFF8 Workbook stream. Each sheet: (name, hidden, cells {(row0, col0): value}, hidden rows0, merges).
    A value is str, float, bool, ("date", serial), ("err", code) or ("formula_err", code)."""
    bof = lambda kind: _biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))
    strings: list[str] = []
    for _, _, cells, _, _ in sheets:
        strings += [v for v in cells.values() if isinstance(v, str) and v not in strings]
    sst = struct.pack("<II", len(strings), len(strings)) + b"".join(
        struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings)
    xf = lambda ifmt: _biff_record(0x00E0, struct.pack("<HHHHHHIIH", 0, ifmt, 1, 0x20, 0, 0, 0, 0, 0x20C0))
    head = bof(0x0005) + _biff_record(0x0042, struct.pack("<H", 1200)) + _biff_record(0x0022, struct.pack("<H", 0))
    head += b"".join(xf(0) for _ in range(16)) + xf(0) + xf(14)          # XF 16 general, XF 17 a date format
    tail = _biff_record(0x00FC, sst) + _biff_record(0x000A)
    offset = len(head) + sum(12 + 2 * len(name) for name, *_ in sheets) + len(tail)
    bounds = bodies = b""
    for name, hidden, cells, hidden_rows, merges in sheets:
        rows, cols = [r for r, _ in cells] or [0], [c for _, c in cells] or [0]
        body = bof(0x0010) + _biff_record(0x0200, struct.pack("<IIHHH", 0, max(rows) + 1, 0, max(cols) + 1, 0))
        for r in sorted(hidden_rows):
            body += _biff_record(0x0208, struct.pack("<HHHHHHHH", r, 0, max(cols) + 1, 0xFF, 0, 0, 0x0120, 0x0F))
        for (r, c), v in sorted(cells.items()):
            if isinstance(v, bool):
                body += _biff_record(0x0205, struct.pack("<HHHBB", r, c, 16, int(v), 0))
            elif isinstance(v, str):
                body += _biff_record(0x00FD, struct.pack("<HHHI", r, c, 16, strings.index(v)))
            elif isinstance(v, (int, float)):
                body += _biff_record(0x0203, struct.pack("<HHHd", r, c, 16, float(v)))
            elif v[0] == "date":
                body += _biff_record(0x0203, struct.pack("<HHHd", r, c, 17, float(v[1])))
            elif v[0] == "err":
                body += _biff_record(0x0205, struct.pack("<HHHBB", r, c, 16, v[1], 1))
            elif v[0] == "formula_err":                                  # cached result: an error; rgce: PtgInt 1
                body += _biff_record(0x0006, struct.pack("<HHH", r, c, 16) + struct.pack("<BBBBBBH", 2, 0, v[1], 0, 0, 0, 0xFFFF)
                                     + struct.pack("<HIH", 0, 0, 3) + b"\x1e\x01\x00")
        if merges:
            body += _biff_record(0x00E5, struct.pack("<H", len(merges)) + b"".join(struct.pack("<HHHH", *m) for m in merges))
        body += _biff_record(0x000A)
        bounds += _biff_record(0x0085, struct.pack("<IBB", offset, int(hidden), 0) + struct.pack("<BB", len(name), 1)
                               + name.encode("utf-16-le"))
        offset += len(body)
        bodies += body
    return head + bounds + tail + bodies


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An OLE compound file (MS-CFB v3) holding `streams`, each padded to ≥ 4096 bytes (no mini stream)."""
    ssz, end, free = 512, 0xFFFFFFFE, 0xFFFFFFFF
    names = list(streams)
    datas = [streams[n] + b"\0" * (-len(streams[n]) % 4) for n in names]           # zero records pad the stream
    datas = [d.ljust(max(4096, -(-len(d) // ssz) * ssz), b"\0") for d in datas]
    n_dir = -(-(len(names) + 1) // 4)
    n_data = sum(len(d) // ssz for d in datas)
    n_fat = 1
    while n_fat + n_dir + n_data > n_fat * ssz // 4:
        n_fat += 1
    fat = [0xFFFFFFFD] * n_fat
    dir_start = len(fat)
    fat += [dir_start + k + 1 if k < n_dir - 1 else end for k in range(n_dir)]
    starts = []
    for d in datas:
        start, n = len(fat), len(d) // ssz
        starts.append(start)
        fat += [start + k + 1 if k < n - 1 else end for k in range(n)]
    fat += [free] * (n_fat * ssz // 4 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""
        return (raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), kind, 1 if name else 0)
                + struct.pack("<III", free, right, child) + b"\0" * 36 + struct.pack("<IQ", start, size))

    entries = [entry("Root Entry", 5, 1, free, end, 0)]
    entries += [entry(n, 2, free, i + 2 if i + 1 < len(names) else free, starts[i], len(datas[i])) for i, n in enumerate(names)]
    entries += [entry("", 0, free, free, 0, 0)] * (n_dir * 4 - len(entries))
    header = (sources_sheets.OLE_MAGIC + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
              + struct.pack("<9I", 0, n_fat, dir_start, 0, 4096, end, 0, end, 0)
              + struct.pack("<109I", *(list(range(n_fat)) + [free] * (109 - n_fat))))
    return header + struct.pack(f"<{len(fat)}I", *fat) + b"".join(entries) + b"".join(datas)


def write_xls(path: Path, sheets: list[tuple[str, bool, dict, set, list]]) -> Path:
    path.write_bytes(compound_file({"Workbook": biff8_stream(sheets)}))
    return path


def messy_ledger(path: Path) -> Path:
    """A 贷款明细 workbook as a bank sends it: title and 填报单位 rows above the header, a merged title and a merged
    group cell, dates of several kinds, a hidden row, a hidden 说明 sheet, a #REF! error, a formula with a cached
    result and one without, stray spaces in a sheet name and in text, an ID typed as text."""
    wb = OpenpyxlWorkbook()
    ws = wb.active
    ws.title = "贷款明细 "
    ws.append(["大同市信贷数据台账（贷款明细）"])
    ws.merge_cells("A1:F1")
    ws.append(["填报单位：大同农商银行", None, None, "填报日期：", dt.datetime(2024, 4, 25)])
    ws.append(["借款人名称", "证件号码", "借款人类型", "发放日期", "发放金额", "执行利率（%）", "备注"])
    ws.append(["大同某商贸有限公司", "91140200MA0K000001", "小微企业", dt.datetime(2024, 4, 1), 100.0, 4.35, " 续贷 "])
    ws.append(["大同某某餐饮店", "140202199001011234", "个体工商户", dt.date(2024, 4, 2), 55.5, 0.0435, None])
    ws.append(["张三", "140202198512121234", "农户", dt.datetime(2024, 4, 3, 10, 30), 20, "#REF!", None])
    ws.append(["合计", None, None, None, "=SUM(E4:E6)", None, "=E8/0"])
    ws.append([None, None, None, None, 45000, None, "说明：单位万元"])
    ws["F5"].number_format = "0.00%"
    ws["E8"].number_format = "yyyy\"年\"m\"月\"d\"日\""
    ws["D4"].number_format = "yyyy/m/d"
    ws.merge_cells("C4:C5")
    ws.row_dimensions[6].hidden = True
    ws.column_dimensions["B"].hidden = True                               # the ID column
    ws.column_dimensions["K"].hidden = True                               # hidden but empty: not reported
    ws.cell(row=12, column=1).number_format = "0.00"              # a styled but empty cell
    notes = wb.create_sheet("说明")
    notes.sheet_state = "hidden"
    notes["A1"] = "本表由系统导出"
    wb.save(path)
    # openpyxl writes formulas without a cached result; give the SUM one, as Excel would have
    return rewrite_part(path, "xl/worksheets/sheet1.xml",
                        lambda xml: re.sub(r"(<f>SUM\(E4:E6\)</f>)<v\s*(?:/>|></v>)", r"\1<v>175.5</v>", xml))


def read_in_subprocess(path: Path, timeout: float = 60) -> dict:
    """Read a workbook in a child process under a 3 GiB address-space cap; return its result, time and peak RSS
    (so that a reader that would abort or balloon fails this test, not the test session)."""
    code = textwrap.dedent(f"""
        import json, resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        sys.path.insert(0, {str(SRC)!r})
        from helpers.ingest.sources import read_workbook

        def peak_mb():
            # this process's own peak (VmHWM starts anew at exec); ru_maxrss would also hold the RSS of the
            # test session this child was forked from, which Linux carries across exec
            try:
                with open("/proc/self/status") as status:
                    return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
            except (OSError, StopIteration):
                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        t = time.perf_counter()
        wb = read_workbook(__import__("pathlib").Path({str(path)!r}))
        seconds = time.perf_counter() - t
        print(json.dumps({{
            "seconds": seconds,
            "peak_mb": peak_mb(),
            "sheets": [[s.name, len(s.rows), [list(map(str, c)) for _, c in s.rows[:3]]] for s in wb.sheets],
            "codes": [f.code for f in wb.findings],
            "messages": [f.message for f in wb.findings],
        }}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def codes(wb) -> list[str]:
    return [f.code for f in wb.findings]


def rows_of(sheet: Sheet) -> dict[int, tuple]:
    return dict(sheet.rows)


# ---------------------------------------------------------------------------------------------------------------
# A realistic messy ledger


def test_messy_ledger_values_and_findings(tmp_path: Path):
    wb = read_workbook(messy_ledger(tmp_path / "大同农商银行4.25台账(1).xlsx"), root=tmp_path)
    assert wb.name == "大同农商银行4.25台账(1).xlsx"
    assert len(wb.sha256) == 64
    assert [s.name for s in wb.sheets] == ["贷款明细 ", "说明"]            # stray space kept
    loans, notes = wb.sheets
    assert not loans.hidden and notes.hidden
    assert set(loans.merged) == {"A1:F1", "C4:C5"}
    rows = rows_of(loans)
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7, 8]                       # no empty row, styled A12 not a row
    assert rows[1] == ("大同市信贷数据台账（贷款明细）",)
    assert rows[2] == ("填报单位：大同农商银行", None, None, "填报日期：", dt.datetime(2024, 4, 25))
    assert rows[4] == ("大同某商贸有限公司", "91140200MA0K000001", "小微企业", dt.datetime(2024, 4, 1), 100, 4.35, " 续贷 ")
    assert type(rows[4][4]) is int                                        # 100.0 → 100
    assert rows[5][3] == dt.datetime(2024, 4, 2) and type(rows[5][3]) is dt.datetime
    assert rows[5][4] == 55.5 and rows[5][5] == 0.0435                     # a percentage stays a fraction
    assert rows[6] == ("张三", "140202198512121234", "农户", dt.datetime(2024, 4, 3, 10, 30), 20, "#REF!")
    assert rows[7] == ("合计", None, None, None, 175.5)                   # cached result; G7 has none → None
    assert rows[8] == (None, None, None, None, dt.datetime(2023, 3, 15), None, "说明：单位万元")
    assert rows_of(notes) == {1: ("本表由系统导出",)}

    by_code = {f.code: f for f in wb.findings}
    no_cache = by_code["formula_no_cache"]
    assert "公式没有缓存结果" in no_cache.message and "E8/0" in no_cache.message
    assert (no_cache.sheet, no_cache.row, no_cache.column, no_cache.file) == ("贷款明细 ", 7, "G", wb.name)
    assert by_code["hidden_rows"].severity == "info" and by_code["hidden_rows"].row == 6
    assert "第 6 行" in by_code["hidden_rows"].message
    assert by_code["hidden_sheet"].sheet == "说明"
    assert by_code["hidden_columns"].severity == "info" and "（B 列）" in by_code["hidden_columns"].message
    assert not any(f.severity == "error" for f in wb.findings)


def test_dense_and_sparse_paths_give_identical_sheets(tmp_path: Path, monkeypatch):
    path = messy_ledger(tmp_path / "ledger.xlsx")
    calls = []
    real = read_xlsx._read_sparse
    monkeypatch.setattr(read_xlsx, "_read_sparse", lambda *a, **k: calls.append(1) or real(*a, **k))
    dense = read_workbook(path, root=tmp_path)
    assert calls == []                                                    # calamine read both sheets directly
    monkeypatch.setattr(sources_sheets, "DENSE_MAX_AREA", 0)
    sparse = read_workbook(path, root=tmp_path)
    assert len(calls) == 2                                                # both sheets went the sparse way
    assert sparse.sheets == dense.sheets
    assert sparse.findings == dense.findings


def test_dense_and_sparse_paths_agree_on_hand_written_xml(tmp_path: Path, monkeypatch):
    """Shared strings with rich text and phonetic runs, escapes, inline strings, booleans, a str formula, an
    error cell, custom date formats, durations, times, integral and huge floats."""
    shared = ["<si><t>机构名称</t></si>",
              ("<si><r><t>大同</t></r><r><rPr><b/></rPr><t>农商银行</t></r>"
               "<rPh sb=\"0\" eb=\"2\"><t>DATONG</t></rPh></si>"),
              "<si><t xml:space=\"preserve\"> 含空格 </t></si>",
              "<si><t>第一行_x000D_第二行</t></si>"]
    styles = (f'<styleSheet xmlns="{MAIN_NS}"><numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
              '<numFmt numFmtId="165" formatCode="[h]:mm:ss"/></numFmts><cellXfs count="5"><xf numFmtId="0"/>'
              '<xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164" applyNumberFormat="1"/>'
              '<xf numFmtId="165" applyNumberFormat="1"/><xf numFmtId="20" applyNumberFormat="1"/></cellXfs></styleSheet>')
    data = ('<row r="2" spans="1:9"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c><c r="C2" t="s"><v>2</v></c>'
            '<c r="D2" t="s"><v>3</v></c><c r="E2" t="inlineStr"><is><t>行内 &amp; 文本</t></is></c></row>'
            '<row r="3"><c r="A3" t="b"><v>1</v></c><c r="B3" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>'
            '<c r="C3" t="e"><f>VLOOKUP(A1,B:C,2,0)</f><v>#N/A</v></c><c r="D3" s="1"><v>45407</v></c>'
            '<c r="E3" s="2"><v>45407.5</v></c><c r="F3" s="3"><v>1.25</v></c><c r="G3" s="4"><v>0.5</v></c>'
            '<c r="H3"><v>1E+20</v></c><c r="I3"><v>-0</v></c><c r="J3"><v>3.0000</v></c></row>'
            '<row r="5" hidden="1"><c r="B5" t="str"><f>""</f><v></v></c><c r="C5"><f>1/0</f></c><c r="D5" t="n"><v>7</v></c></row>')
    path = write_raw_xlsx(tmp_path / "raw.xlsx", {"主要指标": data}, shared=shared, styles=styles)
    calls = []
    real = read_xlsx._read_sparse
    monkeypatch.setattr(read_xlsx, "_read_sparse", lambda *a, **k: calls.append(1) or real(*a, **k))
    dense = read_workbook(path)
    monkeypatch.setattr(sources_sheets, "DENSE_MAX_AREA", 0)
    sparse = read_workbook(path)
    assert calls == [1]
    assert sparse == dense
    rows = rows_of(dense.sheets[0])
    assert rows[2] == ("机构名称", "大同农商银行", " 含空格 ", "第一行\r第二行", "行内 & 文本")
    assert rows[3] == (True, "ab", "#N/A", dt.datetime(2024, 4, 25), dt.datetime(2024, 4, 25, 12),
                       dt.timedelta(days=1, hours=6), dt.time(12), 1e20, 0, 3)
    assert rows[5] == (None, None, None, 7)
    assert [f.code for f in dense.findings] == ["formula_no_cache", "hidden_rows"]
    assert dense.findings[0].column == "C" and dense.findings[0].row == 5


def test_1904_date_system_on_both_paths(tmp_path: Path, monkeypatch):
    styles = f'<styleSheet xmlns="{MAIN_NS}"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>'
    path = write_raw_xlsx(tmp_path / "mac.xlsx", {"S": '<row r="1"><c r="A1" s="1"><v>1</v></c><c r="B1" s="1"><v>43945</v></c></row>'},
                          styles=styles, date1904=True)
    dense = read_workbook(path)
    assert dense.sheets[0].rows == ((1, (dt.datetime(1904, 1, 2), dt.datetime(2024, 4, 25))),)
    monkeypatch.setattr(sources_sheets, "DENSE_MAX_AREA", 0)
    assert read_workbook(path) == dense


def test_error_calamine_does_not_know_falls_back_to_the_sparse_path(tmp_path: Path):
    data = '<row r="1"><c r="A1" t="e"><f>SEQUENCE(2)</f><v>#SPILL!</v></c><c r="B1"><v>1</v></c></row>'
    book = read_workbook(write_raw_xlsx(tmp_path / "spill.xlsx", {"S": data}))
    assert book.sheets[0].rows == ((1, ("#SPILL!", 1)),)
    assert book.findings == ()


def test_cells_without_references_follow_calamine_rules(tmp_path: Path):
    data = ('<row><c><v>1</v></c><c/><c><v>2</v></c></row><row><c r="C2"><v>3</v></c><c><v>4</v></c></row>'
            '<row r="5"><c><v>5</v></c></row><row r="7"/><row><c s="0"><v>6</v></c></row>')
    wb = read_workbook(write_raw_xlsx(tmp_path / "norefs.xlsx", {"S": data}))
    assert rows_of(wb.sheets[0]) == {1: (1, None, 2), 2: (None, None, 3, 4), 5: (5,), 8: (6,)}


def test_namespace_prefixed_sheet_xml(tmp_path: Path, monkeypatch):
    """As some .NET exporters write it: every element prefixed x:."""
    xml = (f'<x:worksheet xmlns:x="{MAIN_NS}"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>名称</x:t>'
           '</x:is></x:c><x:c r="B1"><x:v>5</x:v></x:c></x:row></x:sheetData>'
           '<x:mergeCells count="1"><x:mergeCell ref="A1:A2"/></x:mergeCells></x:worksheet>')
    path = write_raw_xlsx(tmp_path / "prefixed.xlsx", {"S": xml})
    calls = []
    real = read_xlsx._read_sparse
    monkeypatch.setattr(read_xlsx, "_read_sparse", lambda *a, **k: calls.append(1) or real(*a, **k))
    wb = read_workbook(path)
    assert calls == []                                                    # read directly by calamine
    assert wb.sheets[0].rows == ((1, ("名称", 5)),)
    assert wb.sheets[0].merged == ("A1:A2",)
    monkeypatch.setattr(sources_sheets, "DENSE_MAX_AREA", 0)
    assert read_workbook(path) == wb


def test_reading_twice_gives_equal_objects(tmp_path: Path):
    path = messy_ledger(tmp_path / "ledger.xlsx")
    assert read_workbook(path, root=tmp_path) == read_workbook(path, root=tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# Bounded reading


def test_stray_cell_at_the_far_corner_is_ignored_quickly(tmp_path: Path, monkeypatch):
    wb = OpenpyxlWorkbook()
    ws = wb.active
    ws.title = "贷款明细"
    ws.append(["借款人名称", "发放金额"])
    for i in range(200):
        ws.append([f"企业{i}", i + 0.5])
    ws.cell(row=1048576, column=16384, value="x")
    path = tmp_path / "stray.xlsx"
    wb.save(path)
    result = read_in_subprocess(path)
    assert result["seconds"] < 3
    assert result["peak_mb"] < 600
    assert result["sheets"][0][:2] == ["贷款明细", 201]
    assert "cell_out_of_range" in result["codes"]
    assert any("第 1048576 行 XFD 列有孤立单元格" in m and "已忽略" in m for m in result["messages"])
    # in process, the finding carries its place
    book = read_workbook(path)
    finding = next(f for f in book.findings if f.code == "cell_out_of_range")
    assert (finding.row, finding.column, finding.sheet, finding.severity) == (1048576, "XFD", "贷款明细", "warning")
    assert book.sheets[0].rows[-1] == (201, ("企业199", 199.5))
    # the cell-by-cell path (used for sheets that stay sparse) agrees with the filtered dense one
    monkeypatch.setattr(sources_sheets, "DENSE_MAX_AREA", 0)
    assert read_workbook(path) == book


def test_far_stray_cell_within_columns_is_kept_sparsely(tmp_path: Path, monkeypatch):
    wb = OpenpyxlWorkbook()
    ws = wb.active
    ws.append(["a", "b"])
    ws.cell(row=1048576, column=26, value="z")                            # 27 million cells if read densely
    path = tmp_path / "far.xlsx"
    wb.save(path)
    calls = []
    real = read_xlsx._read_sparse
    monkeypatch.setattr(read_xlsx, "_read_sparse", lambda *a, **k: calls.append(1) or real(*a, **k))
    started = time.perf_counter()
    book = read_workbook(path)
    assert time.perf_counter() - started < 3
    assert calls == [1]
    assert book.sheets[0].rows == ((1, ("a", "b")), (1048576, (None,) * 25 + ("z",)))
    assert not book.findings


def test_lying_dimension_on_a_small_sheet(tmp_path: Path):
    wb = OpenpyxlWorkbook()
    ws = wb.active
    for row in [["机构名称", "各项贷款余额"], ["大同农商银行", 1234.5]]:
        ws.append(row)
    path = tmp_path / "dimension.xlsx"
    wb.save(path)
    rewrite_part(path, "xl/worksheets/sheet1.xml",
                 lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:XFD1048576"', xml))
    assert 'ref="A1:XFD1048576"' in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    result = read_in_subprocess(path)
    assert result["seconds"] < 3 and result["peak_mb"] < 600
    book = read_workbook(path)
    assert book.sheets[0].rows == ((1, ("机构名称", "各项贷款余额")), (2, ("大同农商银行", 1234.5)))
    assert not book.findings


def test_sheet_with_too_many_cells_is_refused(tmp_path: Path, monkeypatch):
    wb = OpenpyxlWorkbook()
    for i in range(30):
        wb.active.append([i, i, i, i])
    wb.create_sheet("小表").append(["ok"])
    path = tmp_path / "big.xlsx"
    wb.save(path)
    monkeypatch.setattr(sources_sheets, "MAX_SHEET_CELLS", 100)
    book = read_workbook(path)
    big, small = book.sheets
    assert big.rows == () and small.rows == ((1, ("ok",)),)
    refused = [f for f in book.findings if f.code == "sheet_too_large"]
    assert len(refused) == 1 and refused[0].severity == "error" and refused[0].sheet == big.name


def test_declared_size_over_the_limit_is_refused(tmp_path: Path, monkeypatch):
    path = messy_ledger(tmp_path / "bomb.xlsx")
    monkeypatch.setattr(sources_sheets, "MAX_UNCOMPRESSED_BYTES", 1000)
    book = read_workbook(path)
    assert book.sheets == () and codes(book) == ["workbook_too_large"]
    assert "GiB" in book.findings[0].message


def test_part_whose_size_lies_is_caught(tmp_path: Path):
    """A zip entry declaring fewer bytes than it holds: Python stops at the declared size, the CRC check fails,
    and the sheet is reported, never handed to calamine."""
    wb = OpenpyxlWorkbook()
    for i in range(50):
        wb.active.append([f"行{i}", i])
    path = tmp_path / "lying.xlsx"
    wb.save(path)
    raw = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    small = struct.pack("<I", 100)
    local = zipfile.ZipFile(path).getinfo(name.decode()).header_offset
    raw[local + 22:local + 26] = small                                       # local header: uncompressed size
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:                                                          # central directory: the same
        if raw[pos + 46:pos + 46 + struct.unpack_from("<H", raw, pos + 28)[0]] == name:
            raw[pos + 24:pos + 28] = small
        pos = raw.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).getinfo(name.decode()).file_size == 100
    book = read_workbook(path)
    assert book.sheets[0].rows == ()
    assert [f.code for f in book.findings if f.severity == "error"] == ["sheet_unreadable"]


# ---------------------------------------------------------------------------------------------------------------
# Files that are not what they claim


def test_text_renamed_xlsx_is_not_a_workbook(tmp_path: Path):
    path = tmp_path / "台账.xlsx"
    path.write_text("这不是表格\n", encoding="utf-8")
    book = read_workbook(path)
    assert book.sheets == ()
    assert codes(book) == ["not_a_workbook"] and book.findings[0].severity == "error"
    assert "文件不是有效的 Excel 工作簿" in book.findings[0].message
    assert book.findings[0].file == "台账.xlsx"


def test_word_document_renamed_xlsx(tmp_path: Path):
    path = tmp_path / "台账.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    book = read_workbook(path)
    assert codes(book) == ["not_a_workbook"] and "Word" in book.findings[0].message


def test_empty_file(tmp_path: Path):
    path = tmp_path / "空.xlsx"
    path.write_bytes(b"")
    book = read_workbook(path)
    assert book.sheets == () and codes(book) == ["empty_file"]
    assert "文件为空" in book.findings[0].message
    assert book.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_empty_workbook(tmp_path: Path):
    path = tmp_path / "empty.xlsx"
    OpenpyxlWorkbook().save(path)
    book = read_workbook(path)
    assert book.sheets == (Sheet("Sheet", ()),)
    assert codes(book) == ["empty_workbook"] and book.findings[0].severity == "warning"


def test_encrypted_workbook_named_xlsx(tmp_path: Path):
    bare = tmp_path / "加密.xlsx"
    bare.write_bytes(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + b"\0" * 4088)
    real = tmp_path / "加密2.xlsx"
    real.write_bytes(compound_file({"EncryptionInfo": b"\x04\x00\x04\x00" + b"\0" * 60, "EncryptedPackage": b"\0" * 5000}))
    for path in (bare, real):
        book = read_workbook(path)
        assert book.sheets == () and codes(book) == ["encrypted"]
        assert book.findings[0].message == "工作簿已加密，无法读取，请取消密码后重新报送"


def test_html_saved_as_xls(tmp_path: Path):
    # what bank systems export: a GBK page without a BOM, merged cells as colspan/rowspan, numbers as text
    path = tmp_path / "导出.xls"
    path.write_bytes(("<html><head><meta charset=gbk></head><body><table>"
                      "<tr><td colspan=3>信贷数据台账</td></tr>"
                      "<tr><th>机构名称</th><th rowspan=2>各项贷款余额</th><th>信用&amp;贷款</th></tr>"
                      "<tr><td>工行大同分行</td><td>1,200.50</td></tr></table></body></html>").encode("gbk"))
    book = read_workbook(path)
    assert codes(book) == []
    assert rows_of(book.sheets[0]) == {1: ("信贷数据台账",), 2: ("机构名称", "各项贷款余额", "信用&贷款"),
                                       3: ("工行大同分行", None, "1,200.50")}


def test_html_that_is_no_table(tmp_path: Path):
    path = tmp_path / "导出.xls"
    path.write_text("<html><body><p>系统维护中</p></body></html>", encoding="utf-8")
    book = read_workbook(path)
    assert codes(book) == ["not_a_workbook"] and "网页" in book.findings[0].message


def test_spreadsheet_2003_xml_keeps_types_and_places(tmp_path: Path):
    path = tmp_path / "导出.xls"
    path.write_text(
        '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="贷款明细"><Table>'
        '<Row><Cell ss:MergeAcross="1"><Data ss:Type="String">标题</Data></Cell><Cell><Data ss:Type="Number">3.5'
        '</Data></Cell></Row><Row ss:Index="4"><Cell ss:Index="2"><Data ss:Type="DateTime">2022-07-01T00:00:00'
        '</Data></Cell><Cell><Data ss:Type="Number">100</Data></Cell></Row></Table></Worksheet></Workbook>',
        encoding="utf-8")
    book = read_workbook(path)
    assert codes(book) == [] and book.sheets[0].name == "贷款明细"
    assert rows_of(book.sheets[0]) == {1: ("标题", None, 3.5), 4: (None, dt.datetime(2022, 7, 1), 100)}


def test_spreadsheet_2003_xml_with_entities_is_refused(tmp_path: Path):
    path = tmp_path / "导出.xls"
    path.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                    '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet><Table><Row><Cell>'
                    '<Data>&e;</Data></Cell></Row></Table></Worksheet></Workbook>', encoding="utf-8")
    book = read_workbook(path)
    assert codes(book) == ["xml_unsafe"] and book.sheets == ()


def test_ods_whose_repeats_would_explode_is_refused(tmp_path: Path):
    path = tmp_path / "台账.ods"
    content = ('<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
               'office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body>'
               '<office:spreadsheet><table:table table:name="S"><table:table-row table:number-rows-repeated='
               '"1000000"><table:table-cell office:value-type="float" office:value="1" '
               'table:number-columns-repeated="1000"/></table:table-row></table:table></office:spreadsheet>'
               '</office:body></office:document-content>')
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content)
    book = read_workbook(path)
    assert codes(book) == ["sheet_too_large"] and book.sheets == ()


def test_tab_separated_text_saved_as_xls(tmp_path: Path):
    path = tmp_path / "系统导出.xls"
    path.write_bytes("借款人名称\t发放金额\n大同某公司\t100.5\n".encode("gbk"))
    book = read_workbook(path)
    assert book.sheets[0].rows == ((1, ("借款人名称", "发放金额")), (2, ("大同某公司", "100.5")))
    assert codes(book) == ["text_as_xls"]


def test_xlsx_content_with_xls_name(tmp_path: Path):
    path = tmp_path / "ledger.xls"
    wb = OpenpyxlWorkbook()
    wb.active.append(["名称", 1])
    wb.save(path)
    book = read_workbook(path)
    assert book.sheets[0].rows == ((1, ("名称", 1)),)
    assert codes(book) == ["extension_mismatch"] and book.findings[0].severity == "info"


def test_unknown_extension_is_reported(tmp_path: Path):
    path = tmp_path / "说明"
    path.write_bytes(b"\x00\x01binary")
    book = read_workbook(path)
    assert book.sheets == () and codes(book) == ["not_a_workbook"]


def test_unreadable_path_never_raises(tmp_path: Path):
    book = read_workbook(tmp_path / "missing.xlsx")
    assert book.sheets == () and codes(book) == ["file_unreadable"] and book.sha256 == ""


# ---------------------------------------------------------------------------------------------------------------
# .xls


def test_xls_read_with_calamine(tmp_path: Path):
    cells = {(0, 0): "大同农商银行信贷数据台账", (2, 0): "机构名称", (2, 1): "各项贷款余额", (2, 2): "统计日期",
             (3, 0): "大同农商银行", (3, 1): 1234.5, (3, 2): ("date", 45407), (3, 3): ("err", 0x17), (3, 4): True,
             (4, 0): "小计", (4, 1): ("formula_err", 0x07), (5, 0): "合计", (5, 1): 7.0}
    path = write_xls(tmp_path / "旧版.xls", [("主要指标", False, cells, {4}, [(0, 0, 0, 3)]),
                                             ("隐藏表", True, {(0, 0): "x"}, set(), [])])
    book = read_workbook(path, root=tmp_path)
    assert [(s.name, s.hidden) for s in book.sheets] == [("主要指标", False), ("隐藏表", True)]
    main = book.sheets[0]
    assert main.merged == ("A1:D1",)
    assert main.rows == (
        (1, ("大同农商银行信贷数据台账",)),
        (3, ("机构名称", "各项贷款余额", "统计日期")),
        (4, ("大同农商银行", 1234.5, dt.datetime(2024, 4, 25), "#REF!", True)),
        (5, ("小计", "#DIV/0!")),
        (6, ("合计", 7)),
    )
    assert codes(book) == ["hidden_rows", "hidden_sheet"]
    assert read_workbook(path, root=tmp_path) == book


def test_xls_stray_cell_is_read_sparsely(tmp_path: Path):
    cells = {(0, 0): "名称", (1, 0): "甲", (1, 1): 2.0, (65535, 255): "远处", (10, 300): "超出"}
    path = write_xls(tmp_path / "stray.xls", [("S", False, cells, set(), [])])
    result = read_in_subprocess(path)
    assert result["seconds"] < 2 and result["peak_mb"] < 600
    book = read_workbook(path)
    rows = rows_of(book.sheets[0])
    assert rows[1] == ("名称",) and rows[2] == ("甲", 2)
    assert rows[65536] == (None,) * 255 + ("远处",)
    assert codes(book) == ["cell_out_of_range"] and book.findings[0].row == 11


def test_fake_xls_gives_the_resave_message(tmp_path: Path):
    path = tmp_path / "旧表.xls"
    path.write_bytes(sources_sheets.OLE_MAGIC + b"\0" * 3000)
    book = read_workbook(path)
    assert codes(book) == ["xls_unreadable"]
    assert book.findings[0].message == "旧版 .xls 文件无法读取，请另存为 .xlsx"


# ---------------------------------------------------------------------------------------------------------------
# CSV


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8", "gb18030", "utf-16"])
def test_csv_encodings_with_chinese_headers(tmp_path: Path, encoding: str):
    text = "借款人名称,证件号码,发放金额（万元）\r\n大同某商贸有限公司,91140200MA0K000001,100.50\r\n\r\n\"张三, 个体\",,20\r\n"
    path = tmp_path / f"贷款明细_{encoding}.csv"
    path.write_bytes(text.encode(encoding))
    book = read_workbook(path, root=tmp_path)
    assert book.sheets == (Sheet(f"贷款明细_{encoding}", (
        (1, ("借款人名称", "证件号码", "发放金额（万元）")),
        (2, ("大同某商贸有限公司", "91140200MA0K000001", "100.50")),
        (4, ("张三, 个体", None, "20")),
    )),)
    assert book.findings == ()


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_csv_delimiter_is_sniffed(tmp_path: Path, delimiter: str):
    path = tmp_path / "无贷户名单.csv"
    path.write_text(delimiter.join(["名称", "证件号码", "类型"]) + "\n" + delimiter.join(["某店", "X1", "个体工商户"]) + "\n",
                    encoding="utf-8")
    rows = read_workbook(path).sheets[0].rows
    assert rows == ((1, ("名称", "证件号码", "类型")), (2, ("某店", "X1", "个体工商户")))


# ---------------------------------------------------------------------------------------------------------------
# Listing a cycle folder


def test_list_cycle_files(tmp_path: Path):
    cycle = tmp_path / "2024-04-25"
    for rel in ["大同农商银行台账.xlsx", "~$大同农商银行台账.xlsx", ".~lock.台账.xlsx#", ".DS_Store", "Thumbs.db",
                "desktop.ini", "各县区/平城区无贷户名单.xls", "各县区/云冈区/名单.csv", "各县区/说明.docx",
                "各县区/~$名单.xlsx", "附件.pdf", "全部台账.zip", "扫描件.JPG", "奇怪文件.dat", ".hidden/x.xlsx",
                "__MACOSX/._台账.xlsx"]:
        p = cycle / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    paths, findings = list_cycle_files(cycle)
    assert [p.relative_to(cycle).as_posix() for p in paths] == [
        "各县区/云冈区/名单.csv", "各县区/平城区无贷户名单.xls", "大同农商银行台账.xlsx", "奇怪文件.dat"]
    assert paths == list_cycle_files(cycle)[0]
    reported = {f.file: (f.severity, f.code) for f in findings}
    assert reported == {"各县区/说明.docx": ("info", "not_a_ledger"), "附件.pdf": ("info", "not_a_ledger"),
                        "扫描件.JPG": ("info", "not_a_ledger"), "全部台账.zip": ("warning", "archive_not_read")}
    assert all(f.message for f in findings)
    odd = read_workbook(cycle / "奇怪文件.dat", root=cycle)                # returned, and judged when read
    assert odd.name == "奇怪文件.dat" and codes(odd) == ["not_a_workbook"]
    nested = read_workbook(cycle / "各县区/云冈区/名单.csv", root=cycle)
    assert nested.name == "各县区/云冈区/名单.csv"


def test_missing_cycle_folder(tmp_path: Path):
    paths, findings = list_cycle_files(tmp_path / "nope")
    assert paths == [] and [f.code for f in findings] == ["cycle_folder_missing"]


_CELL_TAGS = [b'<c r="A1">', b'<c r="B7" s="1">', b'<c r="AB12"/>', b'<c r="ZZ3">', b'<c r="AMK9">',
              b'<c r="XFD1048576">', b'<c s="2" r="C4">', b'<c>', b'<c/>', b'<c r="a1">', b'<col min="1"/>', b'<cols>',
              b'<row r="5">', b'<c r="B">', b'<c\tr="D2">']


@pytest.mark.parametrize("prefix", [b"", b"x:"])
def test_unseen_letters_are_what_listing_every_tag_gives(prefix: bytes) -> None:
    """The scan's column letters, found by searching for tags of unseen columns, are those of the `tags` pattern
    (which lists every cell tag) less the known ones, whatever the mix of tags, the known letters, the namespace
    prefix, and beyond _MAX_UNSEEN new columns in one chunk."""
    import random

    rnd = random.Random(5)
    tags = read_xlsx._patterns(prefix)["tags"]
    many = [b'<c r="%s1">' % read_xlsx.column_letters(n).encode() for n in range(1, 200)]
    for trial in range(300):
        pool = _CELL_TAGS + (many if trial % 10 == 0 else [])
        buf = b"".join(rnd.choice(pool).replace(b"<c", b"<" + prefix + b"c").replace(b"<row", b"<" + prefix + b"row")
                       + b"<v>1</v>" for _ in range(rnd.randrange(0, 400)))
        every = set(tags.findall(buf))
        seen = set(rnd.sample(sorted(every), k=rnd.randrange(0, len(every) + 1))) if every else set()
        assert read_xlsx._unseen_letters(buf, prefix, seen) == every - seen
