"""End to end: `taizhang run` executes every notebook on a small messy cycle and renders a self-contained report;
it refuses to run, with one Chinese line and no traceback, when it cannot."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers.plan.model import load_plan
from tests.conftest import REPO, html_structure_problems, write_progress_workbook

PHONE = "13912340000"

pytestmark = pytest.mark.slow


def taizhang(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "helpers.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def small_cycle(tmp_path_factory) -> Path:
    """Two cycles from three units of the Datong plan; one unit late, one edits a task, text with markup."""
    root = tmp_path_factory.mktemp("e2e")
    plan = load_plan(REPO / "data/plan/datong-2022.yaml")
    units = [plan.find_unit("市金融办"), plan.find_unit("市财政局"), plan.find_unit("工行大同分行")]
    for cycle, date in [("2022-06-10", "2022-06-09"), ("2022-06-25", "2022年6月24日")]:
        folder = root / "raw" / cycle
        folder.mkdir(parents=True)
        for i, unit in enumerate(units):
            sheets = {}
            for lst in plan.lists:
                rows = [[t.no, t.group, t.text, t.deadline, None, None,
                         f"<b>已推进</b>第{t.no}项" if i else f"{cycle} 推进第{t.no}项", "正常推进"]
                        for t in lst.tasks if unit.id in t.responsible]
                if rows:
                    sheets[lst.name] = rows
            report_date = "2022-06-27" if (i == 2 and cycle == "2022-06-25") else date
            # the bank names whom to call in its earlier ledger only
            footer = ["填报人：", "赵敏", None, f"联系电话：{PHONE}"] if (i == 2 and cycle == "2022-06-10") else None
            write_progress_workbook(folder / f"{unit.aliases[0]}台账.xlsx", unit_text=unit.name,
                                    report_date=report_date, sheets=sheets, footer=footer)
    first_run = taizhang("run", "--raw", "raw", "--processed", "processed", "--reports", "reports", cwd=root)
    (root / "first-run.txt").write_text(f"{first_run.returncode}\n{first_run.stdout}\n{first_run.stderr}",
                                        encoding="utf-8")
    return root


def test_run_renders_report_and_tables(small_cycle: Path):
    returncode, output = (small_cycle / "first-run.txt").read_text(encoding="utf-8").split("\n", 1)
    assert returncode == "0", output
    assert "Traceback" not in output
    report = small_cycle / "reports/2022-06-25/report.html"
    assert str(report) in output
    html = report.read_text(encoding="utf-8")
    # self-contained: no script, nothing fetched; charts embedded; no code cells
    assert "<script" not in html and 'src="http' not in html and "href=\"http" not in html
    assert html.count("data:image/png;base64") >= 2
    assert "pipeline.open_run" not in html and "import " not in html
    for heading in ("总体情况", "按时报送率", "未报送和迟报的单位", "红灯和橙灯事项", "重点清单", "全面清单",
                    "疑似复制粘贴", "数据质量问题"):
        assert heading in html, heading
    assert "<b>已推进</b>" not in html and "&lt;b&gt;已推进&lt;/b&gt;" in html
    # the terminal: each stage as it starts, then what was read, what needs attention and where everything went
    for line in ("正在运行 01_ingest（读取台账）", "正在运行 04_report", "读取：本期 3 个文件", "需要注意：",
                 "分析人员工作页：", "三色督办单：", "情况通报草稿：", "下期填报模板："):
        assert line in output, line
    assert (small_cycle / "reports/2022-06-25/analyst.html").is_file()
    assert (small_cycle / "reports/2022-06-25/情况通报（草稿）.docx").is_file()
    assert "../2022-07-10/templates" not in html      # standalone: no link into another cycle's folder
    # read by a browser as written: no element left open (the headings' anchors once turned the page into a link)
    for page in [report, *sorted((small_cycle / "reports/2022-06-25/units").glob("*.html"))]:
        assert html_structure_problems(page.read_text(encoding="utf-8")) == [], page.name
    for nb in ("01_ingest.ipynb", "02_reconcile.ipynb", "04_report.ipynb"):
        assert (small_cycle / "reports/2022-06-25/notebooks" / nb).is_file()
    # the stage notebooks kept beside the report summarise in Chinese, not in the tables' identifiers
    shown = {nb: _text_outputs(small_cycle / "reports/2022-06-25/notebooks" / nb)
             for nb in ("01_ingest.ipynb", "02_reconcile.ipynb")}
    assert "台账类型" in shown["01_ingest.ipynb"] and "任务进展台账" in shown["01_ingest.ipynb"]
    assert "应报单位" in shown["02_reconcile.ipynb"] and "红" in shown["02_reconcile.ipynb"]
    for nb, text in shown.items():
        for identifier in ("green", "grey", "task_text_edited", "received", "unit_source"):
            assert identifier not in text, (nb, identifier)

    processed = small_cycle / "processed/2022-06-25"
    subs = pd.read_parquet(processed / "submissions.parquet")
    assert {"unit", "kind", "received", "on_time", "files"} <= set(subs.columns)
    icbc = subs[(subs["unit"] == "中国工商银行大同分行") & (subs["kind"] == "task")].iloc[0]
    assert bool(icbc["received"]) and icbc["on_time"] == False  # noqa: E712 (late: 2022-06-27)
    status = pd.read_parquet(processed / "task_status.parquet")
    assert {"unit", "list", "task_no", "status", "light", "reason"} <= set(status.columns)
    assert set(status["light"]) <= {"red", "orange", "yellow", "green", "grey"}
    # the financial office changed its text; the two others repeated theirs word for word
    copied = status[status["copied"]]
    assert set(copied["unit"]) == {"大同市财政局", "中国工商银行大同分行"} or set(copied["unit"]) >= {"中国工商银行大同分行"}
    findings = pd.read_parquet(processed / "findings.parquet")
    assert {"severity", "code", "file", "sheet", "row", "column", "unit", "message"} <= set(findings.columns)
    assert (findings["code"] == "ledger_missing").any()
    # the earlier cycle was ingested on the way
    assert (small_cycle / "processed/2022-06-10/task_status.parquet").is_file()


def test_the_analyst_page_alone_names_whom_to_call(small_cycle: Path):
    """The late bank's 填报人 and phone, from its earlier ledger (this cycle's names nobody), are on the analyst's
    page, kept in that cycle's files table, and in nothing that goes to leaders or units: the report, the unit pages,
    the 督办单 and 情况通报, the consolidated workbook, next cycle's templates, the executed notebooks."""
    import zipfile

    reports = small_cycle / "reports"
    files = pd.read_parquet(small_cycle / "processed/2022-06-10/files.parquet")
    assert (files["phone"] == PHONE).sum() == 1 and "赵敏" in set(files["contact"])
    page = (reports / "2022-06-25/analyst.html").read_text(encoding="utf-8")
    chase = page.split("<h2>二")[0]
    rows = [r for r in chase.split("<tr>") if "中国工商银行大同分行" in r]    # its late progress, its missing ledgers
    assert any("迟报" in r for r in rows) and all("赵敏" in r and PHONE in r for r in rows)
    checked = 0
    for path in sorted(p for p in reports.rglob("*") if p.is_file() and p.name != "analyst.html"):
        if path.suffix in (".xlsx", ".docx"):
            with zipfile.ZipFile(path) as book:
                text = "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml"))
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        assert PHONE not in text and "赵敏" not in text, path
        checked += 1
    assert checked > 10


def _text_outputs(notebook: Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return "\n".join("".join(out.get("data", {}).get("text/plain", out.get("text", "")))
                     for cell in nb["cells"] for out in cell.get("outputs", []))


def _state(root: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for top in ("processed", "reports")
            for p in sorted((root / top).rglob("*")) if p.is_file()}


def test_rerun_with_nothing_changed_touches_nothing(small_cycle: Path):
    """Nothing changed since the last run: no notebook runs, no file is written, the last summary is shown."""
    before = _state(small_cycle)
    result = taizhang("run", "--raw", "raw", "--processed", "processed", "--reports", "reports", cwd=small_cycle)
    assert result.returncode == 0, result.stderr
    assert "与上次运行完全相同" in result.stdout and "01_ingest" not in result.stdout
    assert "读取：本期 3 个文件" in result.stdout and "report.html" in result.stdout
    assert _state(small_cycle) == before


def test_a_changed_input_or_output_means_a_full_run(small_cycle: Path):
    from helpers.pipeline.run import open_run
    from helpers.pipeline.unchanged import run_inputs, unchanged_lines

    root = small_cycle.resolve()
    run = open_run(None, None, str(root / "raw"), str(root / "processed"), str(root / "reports"))

    def unchanged() -> bool:
        return unchanged_lines(run, run_inputs(run)) is not None

    assert unchanged()
    ledger = sorted((root / "raw/2022-06-10").iterdir())[0]      # an earlier cycle's file counts too
    content = ledger.read_bytes()
    ledger.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # same size, other content
    try:
        assert not unchanged()
    finally:
        ledger.write_bytes(content)
    assert unchanged()                                          # the raw files count by content, not by date
    report = root / "reports/2022-06-25/report.html"
    stat = report.stat()
    os.utime(report, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # an output written by someone else
    try:
        assert not unchanged()
    finally:
        os.utime(report, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (root / "raw/2022-06-25/说明.txt").write_text("新增的文件", encoding="utf-8")
    try:
        assert not unchanged()
    finally:
        (root / "raw/2022-06-25/说明.txt").unlink()
    assert unchanged()
    (root / "raw/2021-12-25").mkdir()                            # last year's ledgers: the first-loan rule reads them
    (root / "raw/2021-12-25/工行.xlsx").write_bytes(content)
    try:
        assert not unchanged()
    finally:
        shutil.rmtree(root / "raw/2021-12-25")
    assert unchanged()


def test_rerun_gives_identical_tables(small_cycle: Path):
    first = {p.name: p.read_bytes() for p in (small_cycle / "processed/2022-06-25").glob("*.parquet")}
    (small_cycle / "processed/2022-06-25/run.json").unlink()    # every stage checks its own inputs again
    result = taizhang("run", "--raw", "raw", "--processed", "processed", "--reports", "reports", cwd=small_cycle)
    assert "01_ingest" in result.stdout
    assert result.returncode == 0, result.stderr
    second = {p.name: p.read_bytes() for p in (small_cycle / "processed/2022-06-25").glob("*.parquet")}
    assert first == second


def test_reingest_from_the_workbook_cache_gives_identical_tables(small_cycle: Path):
    """A cycle re-ingested with every workbook taken from the parsed-workbook cache writes the same bytes as the
    cold run that filled the cache."""
    processed = small_cycle / "processed/2022-06-25"
    first = {p.name: p.read_bytes() for p in processed.glob("*.parquet")}
    (processed / "ingest.json").unlink()
    result = taizhang("run", "--raw", "raw", "--processed", "processed", "--reports", "reports", cwd=small_cycle)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_bytes() for p in processed.glob("*.parquet")} == first


def test_other_code_recomputes_every_stage_of_the_year(small_cycle: Path, tmp_path: Path, monkeypatch):
    """Processed tables made by other code (an upgraded suite) are not reused: every cycle is read, reconciled and
    its indicators computed again, to the same tables; with the same code, nothing is."""
    import shutil

    from helpers.pipeline import run as pipeline_run
    from helpers.pipeline import stages

    monkeypatch.setenv("TAIZHANG_WORKERS", "1")
    processed = tmp_path / "processed"
    shutil.copytree(small_cycle / "processed", processed)
    first = {p.relative_to(processed): p.read_bytes() for p in processed.glob("*/*.parquet")}

    def rerun() -> list[str]:
        run = pipeline_run.open_run("2022-06-25", None, str(small_cycle / "raw"), str(processed), str(tmp_path / "reports"))
        actions = stages.ingest(run)["action"].tolist()
        stages.reconcile_cycle(run)
        stages.indicators_cycle(run)
        return actions

    assert rerun() == ["未变化，沿用上次结果"] * 2
    monkeypatch.setattr(stages, "code_digest", lambda: "other code")
    assert rerun() == ["已读取"] * 2
    for cycle in ("2022-06-10", "2022-06-25"):
        for stage in ("ingest", "reconcile", "indicators"):
            fingerprint = json.loads((processed / cycle / f"{stage}.json").read_text(encoding="utf-8"))
            assert fingerprint["code"] == "other code", (cycle, stage)
    assert {p.relative_to(processed): p.read_bytes() for p in processed.glob("*/*.parquet")} == first


def test_missing_cycle_is_one_chinese_line(small_cycle: Path):
    result = taizhang("run", "--cycle", "2022-07-10", "--raw", "raw", "--processed", "processed", cwd=small_cycle)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "找不到周期文件夹" in lines[0]


def test_not_a_report_date_and_bad_plan(small_cycle: Path, tmp_path: Path):
    result = taizhang("run", "--cycle", "2022-06-11", "--raw", "raw", cwd=small_cycle)
    assert result.returncode == 2 and "不是报送日" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("plan: {id: x, year: 1999}\nunits: []\nlists: []\n", encoding="utf-8")
    result = taizhang("run", "--plan", str(bad), "--raw", "raw", cwd=small_cycle)
    assert result.returncode == 2
    assert re.search(r"未通过校验", result.stderr) and "Traceback" not in result.stderr


@pytest.mark.parametrize("mistake", ["plan_in_gbk", "binary_plan", "reports_is_a_file", "processed_inside_raw"])
def test_input_mistakes_are_one_chinese_line(small_cycle: Path, tmp_path: Path, mistake: str):
    plan = (REPO / "data/plan/datong-2022.yaml").read_text(encoding="utf-8")
    args = ["--raw", "raw", "--processed", str(tmp_path / "processed"), "--reports", str(tmp_path / "reports")]
    expected = {"plan_in_gbk": "不是 UTF-8 编码", "binary_plan": "不是文本文件", "reports_is_a_file": "是一个文件，不是文件夹",
                "processed_inside_raw": "位于原始数据目录"}[mistake]
    if mistake == "plan_in_gbk":
        (tmp_path / "plan.yaml").write_bytes(plan.encode("gbk", errors="replace"))
        args += ["--plan", str(tmp_path / "plan.yaml")]
    elif mistake == "binary_plan":
        (tmp_path / "plan.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
        args += ["--plan", str(tmp_path / "plan.yaml")]
    elif mistake == "reports_is_a_file":
        (tmp_path / "reports").write_text("x", encoding="utf-8")
    else:
        args[3] = str(small_cycle / "raw" / "processed")
    result = taizhang("run", *args, cwd=small_cycle)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not (small_cycle / "raw" / "processed").exists()


def test_failed_run_leaves_previous_outputs_untouched(small_cycle: Path):
    report = small_cycle / "reports/2022-06-25/report.html"
    assert taizhang("run", "--raw", "raw", "--processed", "processed", "--reports", "reports",
                    cwd=small_cycle).returncode == 0
    before_report = report.read_bytes()
    files = small_cycle / "processed/2022-06-25/files.parquet"
    files.write_bytes(b"not parquet")  # a damaged table: the reconcile notebook fails on it
    before = {p.relative_to(small_cycle): p.read_bytes() for p in (small_cycle / "processed").rglob("*") if p.is_file()}
    result = taizhang("run", "--raw", "raw", "--processed", "processed", "--reports", "reports", cwd=small_cycle)
    assert result.returncode == 1
    assert "运行失败" in result.stderr and "Traceback" not in result.stderr
    after = {p.relative_to(small_cycle): p.read_bytes() for p in (small_cycle / "processed").rglob("*") if p.is_file()}
    assert after == before
    assert report.read_bytes() == before_report
    files.unlink()  # leave the module's cycle usable: the next run re-ingests
    (small_cycle / "processed/2022-06-25/ingest.json").unlink()


def test_both_plans_run_through_the_same_notebooks(tmp_path: Path):
    """The Shanxi table runs end to end like the Datong plan: its own list and columns, lead units first."""
    from taizhang_demo.generator import write_demo

    plan = load_plan(REPO / "data/plan/shanxi-sme.yaml")
    write_demo(plan, tmp_path / "raw", cycles=["2022-06-10", "2022-06-25"])
    plan_path = str(REPO / "data/plan/shanxi-sme.yaml")
    result = taizhang("run", "--plan", plan_path, "--raw", "raw", "--processed", "processed", "--reports", "reports",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "reports/2022-06-25/report.html").read_text(encoding="utf-8")
    assert "金融支持小微企业责任分工表" in html and "牵头" in html
    # this plan expects no lending or guarantee ledgers: the sections say so instead of showing empty tables
    assert "本计划不要求报送信贷数据台账和无贷户名单" in html and "全市主要指标" not in html
    assert "本计划不要求报送担保业务台账" in html
    status = pd.read_parquet(tmp_path / "processed/2022-06-25/task_status.parquet")
    assert set(status["list"]) == {"责任分工表"}
    for _, rows in status.groupby("task_no", sort=False):
        roles = list(rows["role"])
        assert roles == sorted(roles, key=lambda r: r != "牵头"), roles  # the lead's light first
    subs = pd.read_parquet(tmp_path / "processed/2022-06-25/submissions.parquet")
    assert set(subs["kind"]) == {"task"} and subs["received"].mean() > 0.8
    templates = taizhang("templates", "--plan", plan_path, "--raw", "raw", "--processed", "processed", "--reports",
                         "reports", cwd=tmp_path)
    assert templates.returncode == 0, templates.stderr
    assert len(list((tmp_path / "reports/2022-07-10/templates").glob("*.xlsx"))) == len(plan.expected_units("task"))


def test_helpers_name_no_particular_plan():
    """Lists, columns, units and targets come from the plan file; no module names either plan's units."""
    names = {u.name for p in ("datong-2022", "shanxi-sme") for u in load_plan(REPO / f"data/plan/{p}.yaml").units}
    names |= {a for p in ("datong-2022", "shanxi-sme") for u in load_plan(REPO / f"data/plan/{p}.yaml").units
              for a in u.aliases if len(a) >= 4}
    for module in (REPO / "src/helpers").rglob("*.py"):
        code = "\n".join(line for line in module.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("#"))
        named = sorted(n for n in names if n in code)
        assert not named, f"{module.name} names {named}"


def test_explore_notebook_runs_on_processed_cycle(small_cycle: Path):
    import papermill

    from helpers.cli import _kernel_name

    out = small_cycle / "explore-out.ipynb"
    papermill.execute_notebook(str(REPO / "notebooks/explore.ipynb"), str(out), kernel_name=_kernel_name(),
                               parameters={"raw": str(small_cycle / "raw"), "processed": str(small_cycle / "processed")},
                               cwd=str(REPO / "notebooks"), progress_bar=False)
    text = out.read_text(encoding="utf-8")
    assert "周期 2022-06-25" in text and "task_status" in text


def test_reconcile_notebook_alone_writes_next_templates_and_ends_cleanly(small_cycle: Path, tmp_path: Path):
    """02_reconcile under papermill, outside `taizhang run`: it waits for next cycle's templates it started, so its
    kernel is not shut down under the worker writing them (which ended in a KeyboardInterrupt and no templates)."""
    env = {k: v for k, v in os.environ.items() if k != "TAIZHANG_CHAINED"}
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(REPO / "notebooks/02_reconcile.ipynb"), str(tmp_path / "out.ipynb"),
         "-p", "cycle", "2022-06-25", "-p", "raw", str(small_cycle / "raw"), "-p", "processed",
         str(small_cycle / "processed"), "-p", "reports", str(reports), "--cwd", str(REPO / "notebooks"),
         "--no-progress-bar"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    # jupyter_client interrupts every kernel before shutting it down; on a loaded machine the interrupt may land
    # while the kernel handles the shutdown message, which ipykernel logs as this one line: the framework's, not a
    # worker's (a worker cut short shows its traceback)
    stderr = "\n".join(line for line in done.stderr.splitlines() if "KeyboardInterrupt caught in kernel" not in line)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-2000:]
    written = sorted(p.name for p in (reports / "2022-07-10" / "templates").iterdir())
    assert "大同市财政局-任务进展台账-2022-07-10.xlsx" in written
