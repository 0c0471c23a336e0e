"""The demo ledgers: deterministic to the byte, idempotent, confined to their folder, and read back by the suite
(sources → ledgers) as what they pretend to be, with the deliberate mess producing the findings it should."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from helpers.core import findings as fd
from helpers.core.cycles import previous_cycle
from taizhang_demo.generator import MANIFEST_NAME, build_demo, default_cycles, write_demo
from helpers.ingest.formats import STATUSES
from helpers.ingest.ledgers import combine, read_ledger
from helpers.plan.model import Plan
from helpers.ingest.sources import list_cycle_files, read_workbook


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------------------
# The Datong demo, generated once and read back once for the module


@pytest.fixture(scope="module")
def demo_dir(datong: Plan, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "raw"
    summary = write_demo(datong, out)
    assert summary.startswith("6 个周期，共 ")
    return out


@pytest.fixture(scope="module")
def manifest(demo_dir: Path) -> dict:
    return json.loads((demo_dir / MANIFEST_NAME).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def readback(demo_dir: Path, manifest: dict, datong: Plan) -> dict:
    """cycle → {"ledgers": {relative path: WorkbookLedger}, "combined": CycleLedgers}."""
    out = {}
    for cycle in manifest["cycles"]:
        cycle_dir = demo_dir / cycle
        paths, listing = list_cycle_files(cycle_dir)
        assert not [f for f in listing if f.severity == "error"]
        ledgers = {f"{cycle}/{p.relative_to(cycle_dir).as_posix()}": read_ledger(read_workbook(p, root=cycle_dir), datong)
                   for p in paths}
        combined = combine(list(ledgers.values()), datong, dt.date.fromisoformat(cycle))
        out[cycle] = {"ledgers": ledgers, "combined": combined}
    return out


def _mess(manifest: dict, code: str) -> list[dict]:
    return [m for m in manifest["mess"] if m["code"] == code]


def _findings(readback: dict, code: str) -> list[tuple[str, fd.Finding]]:
    return [(cycle, f) for cycle, data in readback.items() for f in data["combined"].findings if f.code == code]


def test_default_cycles_are_the_six_report_dates_from_april_to_june(datong: Plan):
    assert default_cycles(datong) == ["2022-04-10", "2022-04-25", "2022-05-10", "2022-05-25", "2022-06-10",
                                      "2022-06-25"]


def test_demo_holds_every_expected_kind_in_every_cycle(demo_dir: Path, manifest: dict, datong: Plan):
    assert manifest["cycles"] == default_cycles(datong)
    files = manifest["files"]
    assert {e["path"] for e in files} == {
        p.relative_to(demo_dir).as_posix() for p in demo_dir.rglob("*.xlsx")
    }
    for cycle in manifest["cycles"]:
        kinds = Counter(k for e in files if e["path"].startswith(cycle + "/") for k in e["kinds"])
        assert set(kinds) == {"task", "lending", "noloan", "guarantee"}
        assert kinds["task"] >= len(datong.expected_units("task")) - 3
        assert kinds["lending"] >= len(datong.banks) - 1
    # Sub-folder for a late submission, and file names without any unit name in them.
    assert any("/补报/" in e["path"] for e in files)
    assert any(Path(e["path"]).stem.startswith(("新建", "双周进展台账", "信贷数据台账")) for e in files)


def test_same_inputs_give_byte_identical_workbooks(demo_dir: Path, datong: Plan, tmp_path: Path):
    again = tmp_path / "again"
    write_demo(datong, again)
    assert _hashes(again) == _hashes(demo_dir)


def test_workbooks_carry_timestamps_derived_from_the_cycle(demo_dir: Path, manifest: dict):
    path = demo_dir / manifest["files"][0]["path"]
    cycle = dt.date.fromisoformat(manifest["files"][0]["path"][:10])
    with zipfile.ZipFile(path) as zf:
        stamps = {info.date_time for info in zf.infolist()}
        core = zf.read("docProps/core.xml").decode("utf-8")
    (stamp,) = stamps
    assert abs((dt.date(*stamp[:3]) - cycle).days) <= 6
    # the element's own text, however the writer declared its namespaces (openpyxl with lxml repeats them there)
    modified = re.search(r"<dcterms:modified[^>]*>([^<]*)<", core).group(1)
    assert modified.startswith(dt.date(*stamp[:3]).isoformat())


def test_second_run_does_nothing_and_force_rewrites(tiny_plan: Plan, tmp_path: Path):
    out = tmp_path / "demo"
    first = write_demo(tiny_plan, out, cycles=["2022-04-10", "2022-04-25"])
    assert first.startswith("2 个周期")
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert "未重写" in write_demo(tiny_plan, out, cycles=["2022-04-10", "2022-04-25"])
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
    # A changed file is noticed and regenerated.
    victim = next(p for p in out.rglob("*.xlsx"))
    victim.write_bytes(b"broken")
    assert "未重写" not in write_demo(tiny_plan, out, cycles=["2022-04-10", "2022-04-25"])
    assert victim.read_bytes()[:2] == b"PK"
    before = _hashes(out)
    assert "未重写" not in write_demo(tiny_plan, out, cycles=["2022-04-10", "2022-04-25"], force=True)
    assert _hashes(out) == before


def test_fewer_cycles_remove_only_the_demo_files_no_longer_generated(tiny_plan: Plan, tmp_path: Path):
    out = tmp_path / "demo"
    write_demo(tiny_plan, out, cycles=["2022-04-10", "2022-04-25"])
    foreign = out / "2022-04-25" / "单位自己放的文件.xlsx"
    foreign.write_bytes(b"keep me")
    write_demo(tiny_plan, out, cycles=["2022-04-10"])
    assert foreign.read_bytes() == b"keep me"
    assert [p.name for p in (out / "2022-04-25").iterdir()] == [foreign.name]
    assert json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))["cycles"] == ["2022-04-10"]


def test_never_writes_through_a_link_out_of_the_folder(tiny_plan: Plan, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "demo"
    out.mkdir()
    (out / "2022-04-10").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValueError, match="演示目录之外"):
        write_demo(tiny_plan, out, cycles=["2022-04-10"])
    assert list(elsewhere.iterdir()) == []


def test_a_cycle_that_is_not_a_report_date_is_refused(tiny_plan: Plan, tmp_path: Path):
    with pytest.raises(ValueError):
        write_demo(tiny_plan, tmp_path / "demo", cycles=["2022-04-11"])
    assert not list((tmp_path / "demo").rglob("*.xlsx"))


def test_shanxi_plan_gets_task_ledgers_only_in_its_own_columns(shanxi: Plan, tmp_path: Path):
    demo = build_demo(shanxi, ["2022-04-10", "2022-04-25"])
    assert demo.files and all(kinds == ("task",) for kinds in demo.kinds.values())
    write_demo(shanxi, tmp_path, cycles=["2022-04-10", "2022-04-25"])
    cycle_dir = tmp_path / "2022-04-10"
    lst = shanxi.lists[0]
    for path in sorted(cycle_dir.rglob("*.xlsx")):
        led = read_ledger(read_workbook(path, root=cycle_dir), shanxi)
        rel = f"2022-04-10/{path.relative_to(cycle_dir).as_posix()}"
        assert (led.unit_id, led.kinds) == (demo.units[rel], ("task",)), rel
        progress = led.tables["progress"]
        assert set(progress["list"]) == {lst.name}
        assert progress["task_no"].notna().all()
        assert not [f for f in led.findings if f.severity == "error"]


# ---------------------------------------------------------------------------------------------------------------
# Reading the Datong demo back


def test_every_workbook_is_recognised_as_its_unit_and_kinds(readback: dict, manifest: dict):
    expected = {e["path"]: (e["unit"], tuple(e["kinds"])) for e in manifest["files"]}
    got = {rel: (led.unit_id, led.kinds) for data in readback.values() for rel, led in data["ledgers"].items()}
    assert got == expected
    errors = [f for data in readback.values() for f in data["combined"].findings if f.severity == "error"]
    assert errors == []


def test_files_named_without_a_unit_are_recognised_from_their_content(readback: dict, manifest: dict):
    ledgers = {rel: led for data in readback.values() for rel, led in data["ledgers"].items()}
    anonymous = [rel for rel in ledgers if Path(rel).stem.startswith(("新建", "双周进展台账", "信贷数据台账"))]
    assert len(anonymous) >= 6
    sources = {ledgers[rel].unit_source for rel in anonymous}
    assert {"标题", "填报单位", "机构名称列"} <= sources
    (from_column,) = [m["file"] for m in _mess(manifest, "unit_from_content")]
    assert ledgers[from_column].unit_source == "机构名称列"


def test_missing_ledgers_are_missing(readback: dict, manifest: dict, datong: Plan):
    task_units = {u.id for u in datong.expected_units("task")}
    missing = [m for m in _mess(manifest, "missing_ledger") if m["unit"] in task_units and "任务" in m["note"]]
    assert len(missing) >= 4
    for m in missing:
        files = readback[m["cycle"]]["combined"].files
        sent = files[(files["unit_id"] == m["unit"]) & files["kinds"].str.contains("task")]
        assert sent.empty, m
    in_a_row = Counter(m["unit"] for m in missing if "连续两期" in m["note"])
    assert max(in_a_row.values()) == 2


def test_late_ledgers_carry_a_later_report_date(readback: dict, manifest: dict):
    late = _mess(manifest, "late_report")
    assert len(late) >= 6
    for m in late:
        files = readback[m["cycle"]]["combined"].files
        row = files[files["file"] == m["file"][len(m["cycle"]) + 1:]].iloc[0]
        assert row["report_date"] > dt.date.fromisoformat(m["cycle"]) and not row["on_time"], m
    files = pd.concat([data["combined"].files for data in readback.values()], ignore_index=True)
    assert files["on_time"].mean() > 0.9


def test_duplicate_ledger_is_reported_and_the_later_one_used(readback: dict, manifest: dict):
    (dup,) = _mess(manifest, "duplicate_ledger")
    found = [f for cycle, f in _findings(readback, "duplicate_ledger") if cycle == dup["cycle"]]
    assert len(found) == 1 and found[0].file == dup["file"][len(dup["cycle"]) + 1:]
    files = readback[dup["cycle"]]["combined"].files
    mine = files[files["unit_id"] == dup["unit"]].set_index("file")
    assert mine.loc[dup["file"][len(dup["cycle"]) + 1:], "used"]
    assert (~mine["used"]).sum() == 1


def test_edited_texts_and_a_wrong_number_are_flagged(readback: dict, manifest: dict):
    edited = _findings(readback, "task_text_edited")
    planted = _mess(manifest, "task_text_edited")
    assert len(edited) == len(planted) >= 2
    assert {(c, f"{c}/{f.file}") for c, f in edited} == {(m["cycle"], m["file"]) for m in planted}
    assert len(_findings(readback, "task_no_mismatch")) == 1
    assert _findings(readback, "task_unmatched") == []


def test_progress_rows_match_plan_tasks_and_statuses(readback: dict, manifest: dict):
    progress = pd.concat([data["combined"].tables["progress"] for data in readback.values()], ignore_index=True)
    assert progress["task_no"].notna().all()
    assert set(progress["status"].dropna()) <= set(STATUSES)
    assert set(progress["status"].dropna()) == set(STATUSES)   # every status occurs, synonyms were mapped
    assert progress["status"].isna().sum() == 1                # the one status left blank
    last = progress[progress["report_date"] >= dt.date(2022, 6, 20)]
    assert (last["status"] == "已完成").sum() > (progress[progress["report_date"] <= dt.date(2022, 4, 12)]["status"]
                                                 == "已完成").sum()
    # Copy-pasted progress: identical to the unit's text of the cycle before.
    for m in _mess(manifest, "progress_copied"):
        list_name, no = m["note"].split("第 ")[0], int(m["note"].split("第 ")[1].split(" ")[0])
        rows = progress[(progress["unit_id"] == m["unit"]) & (progress["list"] == list_name)
                        & (progress["task_no"] == no)].sort_values("report_date")
        cycles = [c for c in manifest["cycles"] if c <= m["cycle"]][-2:]
        texts = [rows[rows["file"].isin(readback[c]["combined"].files["file"])]["progress"].iloc[-1] for c in cycles]
        assert texts[0] == texts[1], m


def test_lending_amounts_are_converted_to_wan_yuan(readback: dict, manifest: dict, datong: Plan):
    (summary,) = _mess(manifest, "regulator_summary")
    cycle = summary["cycle"]
    tables = readback[cycle]["combined"].tables["bank_summary"]
    pbc_rows = tables[tables["unit_id"] == summary["unit"]]
    own_rows = tables[tables["unit_id"] != summary["unit"]]
    assert len(pbc_rows) == len(datong.banks) and len(own_rows) >= len(datong.banks) - 1
    odd_units = {m["unit"] for m in _mess(manifest, "amount_unit")}
    assert len(odd_units) == 3
    for rec in own_rows.to_dict("records"):
        bank = datong.find_unit(rec["bank"])
        assert bank is not None and bank.id == rec["unit_id"]
        twin = pbc_rows[pbc_rows["bank"].map(lambda n: datong.find_unit(n).id) == bank.id].iloc[0]
        for role in ("total_loans", "credit_loans", "sme_loans", "sme_loans_last_year"):
            assert rec[role] == pytest.approx(twin[role], rel=1e-6, abs=1), (bank.id, role)   # 亿元 to 4 places
    # the 合计 rows of the regulator's table and of some loan details were skipped, not counted
    assert _findings(readback, "total_row_skipped")


def test_loans_sit_in_their_window_with_valid_ids_but_for_the_deliberate_few(readback: dict, manifest: dict):
    outside = Counter(m["cycle"] for m in _mess(manifest, "loan_outside_window"))
    bad_ids = len(_mess(manifest, "bad_identifier")) + len(_mess(manifest, "id_as_number"))
    found_bad = len(_findings(readback, "bad_identifier"))
    assert found_bad == bad_ids
    total = 0
    for cycle, data in readback.items():
        loans = data["combined"].tables["loans"]
        day = dt.date.fromisoformat(cycle)
        prev = previous_cycle(day)
        dates = loans["loan_date"]
        assert ((dates <= prev) | (dates > day)).sum() == outside[cycle]
        assert loans["borrower_id_valid"].mean() > 0.99
        total += len(loans)
        assert set(loans["borrower_type"].dropna()) <= {"小微企业", "个体工商户", "小微企业主", "农户"}
    assert 3000 < total < 12000


def test_listed_households_partly_convert_and_first_loans_are_sometimes_claimed_twice(readback: dict,
                                                                                      manifest: dict):
    listed = pd.concat([d["combined"].tables["noloan_list"] for d in readback.values()])
    loans = pd.concat([d["combined"].tables["loans"] for d in readback.values()])
    listed_ids = set(listed["entity_id"].dropna())
    got = listed_ids & set(loans["borrower_id"].dropna())
    assert 0.1 < len(got) / len(listed_ids) < 0.5
    assert _mess(manifest, "first_loan_claimed_twice") and _mess(manifest, "first_loan_not_first")
    apps = pd.concat([d["combined"].tables["applications"] for d in readback.values()])
    assert {"授信", "拒绝", "办理中"} <= set(apps["result"].dropna())
    pending = apps[apps["result"] == "办理中"]
    assert pending["replied_on"].isna().all()
    later = apps[apps["applicant_id"].isin(pending["applicant_id"]) & apps["replied_on"].notna()]
    assert len(later) > 0    # a pending application comes back in the next cycle with its reply


def test_guarantee_capital_rises_and_detail_matches_overview(readback: dict, manifest: dict):
    (raise_note,) = _mess(manifest, "capital_increase")
    capitals = {}
    for cycle, data in readback.items():
        summary = data["combined"].tables["guarantee_summary"]
        detail = data["combined"].tables["guarantees"]
        capitals[cycle] = float(summary["registered_capital"].iloc[0])
        assert 200 <= len(detail) <= 400
        assert summary["in_force_count"].iloc[0] == detail["guaranteed_id"].nunique()
        assert summary["in_force_balance"].iloc[0] == pytest.approx(detail["amount"].sum(), abs=1)
        assert detail["risk_share"].between(0, 0.4).all() and detail["fee_rate"].between(0.005, 0.025).all()
    assert capitals[manifest["cycles"][0]] == 30000
    assert capitals[raise_note["cycle"]] == 50000 and capitals[manifest["cycles"][-1]] == 50000


# ---------------------------------------------------------------------------------------------------------------
# The demo's indicators, and rerunning those of one cycle


@pytest.fixture(scope="module")
def demo_processed(demo_dir: Path, manifest: dict, tmp_path_factory) -> Path:
    """The processed folder of the demo's last cycle: ingested, reconciled, indicators computed (in this process)."""
    from helpers.pipeline import run as pipeline_run
    from helpers.pipeline import stages

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAIZHANG_WORKERS", "1")
        processed = tmp_path_factory.mktemp("demo-processed")
        run = pipeline_run.open_run(manifest["cycles"][-1], None, str(demo_dir), str(processed),
                                str(tmp_path_factory.mktemp("demo-reports")))
        stages.ingest(run)
        stages.reconcile_cycle(run)
        stages.indicators_cycle(run)
    return processed


def test_banks_report_the_first_loans_their_details_show_but_for_the_planted_misreports(demo_processed: Path,
                                                                                       manifest: dict, datong: Plan):
    """Each bank's 首贷户数（当年累计） is what the suite derives from its 贷款明细 (the generator counts them by the same
    rule, on the identifiers as written), except one bank per cycle after the first that reports a few more."""
    planted = {(m["cycle"], m["unit"]) for m in _mess(manifest, "first_loan_count_differs")}
    assert len(planted) == len(manifest["cycles"]) - 1
    found = set()
    for cycle in manifest["cycles"]:
        findings = pd.read_parquet(demo_processed / cycle / "findings_indicators.parquet")
        found |= {(cycle, datong.find_unit(name).id)
                  for name in findings.loc[findings["code"] == "first_loan_count_differs", "unit"]}
    assert found == planted


def test_recomputing_one_cycle_takes_the_previous_figures_from_the_kept_table(demo_dir: Path, manifest: dict,
                                                                              demo_processed: Path, tmp_path: Path,
                                                                              monkeypatch):
    """When only the last cycle's inputs changed, its ``rising`` targets compare with the previous cycle's figures as
    the earlier run kept them (`lending_figures`), not computed again; the indicators are those of a full run."""
    import shutil

    from helpers.indicators import lending
    from helpers.pipeline import run as pipeline_run
    from helpers.pipeline import stages

    monkeypatch.setenv("TAIZHANG_WORKERS", "1")
    last, previous = manifest["cycles"][-1], manifest["cycles"][-2]
    first_run = demo_processed
    assert all((first_run / c / "lending_figures.parquet").is_file() for c in manifest["cycles"])
    full = {c: pd.read_parquet(first_run / c / "indicators.parquet") for c in manifest["cycles"]}

    computed: list[str] = []
    original = lending._indicator_rows
    monkeypatch.setattr(lending, "_indicator_rows",
                        lambda plan, cycle, *a: computed.append(cycle.isoformat()) or original(plan, cycle, *a))
    for kept in (True, False):
        again = tmp_path / f"again-{kept}"
        shutil.copytree(first_run, again)
        (again / last / "indicators.json").unlink()          # as if the last cycle's files had changed
        if not kept:                                          # a processed folder from before the table was kept
            (again / previous / "lending_figures.parquet").unlink()
        computed.clear()
        stages.indicators_cycle(pipeline_run.open_run(last, None, str(demo_dir), str(again), str(tmp_path / "reports")))
        assert sorted(computed) == ([last] if kept else [previous, last])
        for c in manifest["cycles"]:
            pd.testing.assert_frame_equal(pd.read_parquet(again / c / "indicators.parquet"), full[c])


# ---------------------------------------------------------------------------------------------------------------
# The demo's consolidated workbook as a leader prints it


def test_demo_consolidated_prints_as_a_short_document(demo_processed: Path, manifest: dict, datong: Plan,
                                                      tmp_path: Path):
    """consolidated.xlsx of the demo's last cycle: A4 landscape fit to the page width, the header row repeated,
    margins and page numbers; rows no taller than a third of a page's worth (a row is never split over pages, so a
    taller one leaves the rest of a page blank) and every row tall enough for the lines its text wraps into; and,
    where LibreOffice is installed, printed in at most 46 pages (91 before the rows were sized from the columns'
    widths and units' texts set smaller)."""
    import shutil
    import subprocess

    import openpyxl

    from helpers.present import feedback, templates

    cycle = manifest["cycles"][-1]
    status = pd.read_parquet(demo_processed / cycle / "task_status.parquet")
    progress = pd.read_parquet(demo_processed / cycle / "progress.parquet")
    path = tmp_path / "consolidated.xlsx"
    feedback.build_consolidated(datong, status, progress, cycle).save(path)
    wb = openpyxl.load_workbook(path)
    for name in ("全面清单", "重点清单"):
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == "$4:$4"
        assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text
        assert ws.page_margins.left <= 0.5 and ws.page_margins.top <= 0.75
        widths = {c: ws.column_dimensions[openpyxl.utils.get_column_letter(c)].width for c in range(1, 9)}
        assert 150 <= sum(widths.values()) <= 170
        for row in range(templates.HEADER_ROW + 1, ws.max_row + 1):
            if ws.cell(row, 1).value is None or ws.cell(row, 3).value is None:
                continue        # the colour legend after the table
            height = ws.row_dimensions[row].height
            assert height <= feedback.MAX_ROW_HEIGHT + 30, (name, row, height)
            for col in (3, 5, 6, 7, 8):
                cell = ws.cell(row, col)
                if cell.value:
                    lines = templates.text_lines(cell.value, widths[col], cell.font.sz)
                    assert height >= lines * cell.font.sz * 1.2, (name, row, col, height, lines)
        # a 工作要求 is merged over at most about a page, so that its text prints on every page of its group
        merged = [r for r in ws.merged_cells.ranges if r.min_col == 2 and r.min_row > templates.HEADER_ROW]
        assert merged and all(ws.cell(r.min_row, 2).value for r in merged)
        for r in merged:
            assert sum(ws.row_dimensions[i].height for i in range(r.min_row, r.max_row + 1)) \
                <= feedback.MAX_MERGE_HEIGHT, (name, str(r))
        # every unit's progress is there, a continuation row names its task
        task = datong.task(name, 1)
        block = [r for r in range(templates.HEADER_ROW + 1, ws.max_row + 1) if ws.cell(r, 1).value == task.display_no]
        assert all(ws.cell(r, 3).value.endswith(task.text) for r in block)
        text = "\n".join(ws.cell(r, 7).value for r in block)
        assert all(f"{feedback.unit_label(datong, u)}" in text for u in task.responsible)
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: the page count is not measured")
    done = subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
                           "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                          capture_output=True, timeout=240)
    pdf = tmp_path / "consolidated.pdf"
    assert done.returncode == 0 and pdf.is_file(), done.stderr
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert 10 <= pages <= 46, pages


def _html_tables(html: str) -> list[list[list[str]]]:
    """Every <table> of a page as rows of cell texts (header row first)."""
    from html.parser import HTMLParser

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.row, self.cell = [], None, None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.row = []
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.row is not None:
                self.row.append(self.cell.strip())
                self.cell = None
            elif tag == "tr" and self.tables and self.row is not None:
                self.tables[-1].append(self.row)
                self.row = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Tables()
    parser.feed(html)
    return parser.tables


def test_no_two_rows_of_a_demo_report_table_share_a_label(demo_processed: Path, manifest: dict, datong: Plan):
    """The indicator tables of the demo report (全市主要指标, 各类银行, 担保, 信贷计划落后于时序进度的银行, 目标完成情况):
    a row's label (its first column, with the 计划项目 or 指标 column where the table has one) is never another
    row's; the city's two 信贷计划完成率 (普惠型小微企业贷款 and 首贷户 plans) are named apart."""
    from helpers.present import report_indicators, report_targets

    cycle = manifest["cycles"][-1]
    indicators = pd.read_parquet(demo_processed / cycle / "indicators.parquet")
    history = pd.concat([pd.read_parquet(demo_processed / c / "indicators.parquet").assign(cycle=c)
                         for c in manifest["cycles"]], ignore_index=True)
    parts = [*report_indicators.lending_section(datong, indicators, history),
             *report_indicators.guarantee_section(datong, indicators, history),
             report_targets.targets_html(datong, indicators)]
    tables = [t for part in parts if isinstance(part, str) for t in _html_tables(part)]
    assert len(tables) >= 8
    qualifiers = {"计划项目", "指标"}
    for rows in tables:
        header, body = rows[0], rows[1:]
        key_columns = [0] + [i for i, h in enumerate(header) if h in qualifiers and i > 0]
        labels = [tuple(r[i] for i in key_columns) for r in body]
        assert len(labels) == len(set(labels)), (header, [l for l in labels if labels.count(l) > 1])
    headline = next(t for t in tables if t[0][:2] == ["指标", "本期"])
    completion = [r[0] for r in headline if r[0].startswith("信贷计划完成率")]
    assert len(completion) == 2 and all("（" in name for name in completion)
    behind = next(t for t in tables if "计划项目" in t[0])
    assert len(behind) > 1 and all(r[behind[0].index("计划项目")] for r in behind[1:])
