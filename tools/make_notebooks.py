"""Write the pipeline notebooks from the cell lists below (outputs empty, `parameters` cell tagged).

Run `python tools/make_notebooks.py` after editing; the notebooks are committed without outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

PARAMETERS = '''# parameters
cycle: str = ""                  # 报送日期 YYYY-MM-DD（10 日或 25 日）；留空表示原始数据目录中最新的周期
plan: str = ""                   # 计划文件；留空表示默认计划 data/plan/datong-2022.yaml
raw: str = "data/raw"            # 原始台账目录（只读；相对路径从仓库根目录算起）
processed: str = "data/processed"  # 处理结果目录（Parquet）
reports: str = "reports"         # 报告目录'''

OPEN_RUN = '''from helpers import pipeline

run = pipeline.open_run(cycle, plan, raw, processed, reports)
print(f"周期 {run.cycle}｜计划《{run.plan.title}》｜原始台账 {run.folders.cycle_raw(run.cycle)}")
if run.note:
    print(run.note)'''

NOTEBOOK_CELLS = {
    "01_ingest.ipynb": [
        new_markdown_cell("# 1 读取台账\n\n读取本年度截至本期的各周期原始台账（未变化的周期沿用上次结果），"
                          "识别台账类型与填报单位，写入 `processed/<周期>/`。"),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(OPEN_RUN),
        new_code_cell("from helpers.present import report\n\n"
                      "report.ingest_overview(pipeline.ingest(run))"),
        new_code_cell('# counts only: the executed notebook is kept under reports/, and unit-typed text stays out of it\n'
                      'report.files_overview(run.catalog.read(run.cycle, "files"))'),
        new_code_cell('report.findings_counts(run.catalog.read(run.cycle, "findings"))'),
    ],
    "02_reconcile.ipynb": [
        new_markdown_cell("# 2 对照计划\n\n按单位 × 任务给出状态灯和原因，统计报送情况。"),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(OPEN_RUN),
        new_code_cell("from helpers.present import report\n\n"
                      "# 指标只依赖读取的结果：taizhang run 中在后台进程里与对照同时计算，由 03_indicators 等待其完成\n"
                      "pipeline.start_indicators(run)\n"
                      "submissions, task_status = pipeline.reconcile_cycle(run)\n"
                      "report.submissions_overview(submissions)"),
        new_code_cell('report.lights_overview(task_status, by="list")'),
        new_code_cell('report.lights_overview(task_status, by="unit").head(20)  # 红灯、橙灯最多的单位在前'),
        new_code_cell("# 下期模板只需要本阶段的结果：在后台进程中开始生成；taizhang run 中由 04_report 等待其完成，\n"
                      "# 单独运行本笔记本时在这里等待\n"
                      "templates = pipeline.start_outputs(run, pipeline.AFTER_RECONCILE)\n"
                      "pipeline.wait_unless_chained(templates)"),
    ],
    "03_indicators.ipynb": [
        new_markdown_cell("# 3 计算指标\n\n清洗信贷数据台账、无贷户名单和担保业务台账，按银行、银行类别、县区和全市计算"
                          "本年累计指标，对照计划目标给出状态。"),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(OPEN_RUN),
        new_code_cell("from helpers.present import report_indicators\n\n"
                      "indicators = pipeline.indicators_cycle(run)\n"
                      "report_indicators.indicators_overview(indicators)"),
        new_code_cell("report_indicators.indicators_coverage(indicators)"),
    ],
    "04_report.ipynb": [
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell("from IPython.display import HTML, display\n\n"
                      "from helpers import pipeline\nfrom helpers.present import report\n\n"
                      "run = pipeline.open_run(cycle, plan, raw, processed, reports)\n"
                      "tables = pipeline.cycle_tables(run)\n"
                      "outputs = pipeline.start_report(run)  # 汇总表、单位反馈页和下期模板在后台生成；数据未变的图表沿用上次所绘\n"
                      "display(HTML(report.title_block(run.plan, run.cycle, run.previous, run.note)),\n"
                      '        metadata={"taizhang_title": f"{run.plan.title} {run.cycle} 台账报告"})'),
        new_markdown_cell("## 一、总体情况"),
        new_code_cell("display(HTML(report.headline(tables.submissions, tables.task_status, run.plan)))"),
        new_code_cell("report.show(report.lights_chart(tables.task_status, run.plan))"),
        new_code_cell("report.show(report.trend_chart(tables.light_history))"),
        new_markdown_cell("### 较上期变差的事项"),
        new_code_cell("display(HTML(report.worse_table(tables.task_status, run.plan)))"),
        new_markdown_cell("## 二、未报送和迟报的单位"),
        new_code_cell("display(HTML(report.missing_table(tables.submissions)))"),
        new_markdown_cell("## 三、红灯和橙灯事项"),
        new_code_cell("display(HTML(report.red_orange_table(tables.task_status, run.plan)))"),
        new_markdown_cell("## 四、各清单进展"),
        new_code_cell("for task_list in report.lists_in_report_order(run.plan):\n"
                      "    display(HTML(f\"<h3>{report.esc(task_list.name)}</h3>\"))\n"
                      "    if any(t.dated_milestones for t in task_list.tasks):\n"
                      "        display(HTML(report.key_list_table(tables.task_status, run.plan, task_list.name)))\n"
                      "    else:\n"
                      "        display(HTML(report.by_measure_table(tables.task_status, run.plan, task_list.name)))"),
        new_markdown_cell("## 五、疑似复制粘贴的进展"),
        new_code_cell("display(HTML(report.copied_table(tables.task_status, run.plan)))"),
        new_markdown_cell("## 六、计划量化目标完成情况"),
        new_code_cell("from helpers.present import report_targets\n\n"
                      "display(HTML(report_targets.targets_html(run.plan, tables.indicators)))"),
        new_markdown_cell("## 七、信贷指标"),
        new_code_cell("from helpers.present import report_indicators\n\n"
                      "report.show_parts(report_indicators.lending_section(run.plan, tables.indicators, tables.indicator_history))"),
        new_markdown_cell("## 八、融资担保"),
        new_code_cell("report.show_parts(report_indicators.guarantee_section(run.plan, tables.indicators, tables.indicator_history))"),
        new_markdown_cell("## 附：汇总表、单位反馈页、督办单和情况通报"),
        new_code_cell("display(HTML(outputs.finish()))  # 等待后台生成完毕，给出链接"),
        new_markdown_cell("## 附录：数据质量问题"),
        new_code_cell("from helpers.present import analyst\n\n"
                      "display(HTML(report.findings_summary(tables.findings)))\n"
                      "display(HTML(analyst.analyst_link(tables.findings)))  # 逐条明细在分析人员工作页"),
    ],
    "explore.ipynb": [
        new_markdown_cell("# 探索：本年度各周期的处理结果\n\n先运行一次 `taizhang run`（或 `make demo`）。下面一行载入本年度截至所选周期的"
                          "全部处理结果（每张表都带 `cycle` 列），之后就是普通的 pandas。注意：这里含借款人名称和证件号码，"
                          "仅供分析，不要外发。"),
        new_code_cell('# parameters\ncycle: str = ""                  # 留空表示最新周期\nplan: str = ""\n'
                      'raw: str = "data/raw"\nprocessed: str = "data/processed"', metadata={"tags": ["parameters"]}),
        new_code_cell("from helpers import pipeline\nfrom helpers.present import report\n\n"
                      "report.setup_fonts()  # 图表中文字体\n"
                      "year = pipeline.load_year(cycle, plan, raw, processed)\n"
                      "print(year.run.note or f\"周期 {year.run.cycle}\")\n"
                      "{name: len(frame) for name, frame in year.tables.items()}"),
        new_markdown_cell("## 某家银行的借款人，按县区"),
        new_code_cell('bank = year.run.plan.banks[0].name  # 换成任意银行的正式名称\n'
                      '(year.loans[year.loans["bank"] == bank]\n'
                      ' .groupby("county_name").agg(借款人=("borrower_key", "nunique"), 金额_万元=("amount", "sum"))\n'
                      ' if len(year.loans) else "本年度还没有贷款明细")'),
        new_markdown_cell("## 某个县区无贷户名单的转化情况"),
        new_code_cell('conversion = year.indicator("noloan_conversion_rate", scope="county")\nconversion.tail(3)'),
        new_markdown_cell("## 任意指标随周期变化"),
        new_code_cell('share = year.indicator("credit_loan_share", scope="category")\n'
                      'if len(share):\n'
                      '    ax = share.plot(marker="o", title="信用贷款占比（按银行类别）", xlabel="周期", ylabel="占比")\n'
                      '    ax.legend(title="银行类别");\n'
                      'else:\n'
                      '    print("本年度还没有信贷指标")'),
        new_markdown_cell("## 状态灯随周期变化（按单位）"),
        new_code_cell('year.task_status.pivot_table(index="unit", columns="cycle", values="light",\n'
                      '                             aggfunc=lambda s: (s == "red").sum()).head(15)'),
    ],
}


def notebook_text(name: str) -> str:
    """The notebook `name` as the file this tool writes (a test compares it with the committed file)."""
    nb = new_notebook(cells=NOTEBOOK_CELLS[name])
    nb.metadata["kernelspec"] = {"name": "taizhang", "display_name": "Python (taizhang)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{Path(name).stem.replace('_', '-')}-{i:02d}"
    return nbformat.writes(nb) + "\n"


def main() -> None:
    NOTEBOOKS.mkdir(exist_ok=True)
    for name in NOTEBOOK_CELLS:
        (NOTEBOOKS / name).write_text(notebook_text(name), encoding="utf-8")
    print(f"wrote {len(NOTEBOOK_CELLS)} notebooks")


if __name__ == "__main__":
    main()
