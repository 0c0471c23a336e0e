"""Demo task ledgers: each unit's progress on its tasks, with the mistakes units make."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field
from typing import Any

from helpers.core.values import similarity, text_key
from helpers.plan.model import Task, TaskList, Unit
from . import targets as demo_targets
from .workbooks import _Sheet, _Taker, _contact, _date_text, _file_alias, _short_name, _workbook_bytes


_STATUS_WORDS = {
    "正常推进": ("进行中", "推进中", "按计划推进"),
    "已完成": ("已办结", "完成"),
    "滞后": ("进度滞后",),
    "未启动": ("尚未启动",),
}

# Topics for progress texts: keywords in the task text → facts. Placeholders: n1 (hundreds–thousands), n2 (tens),
# n3 (a few to tens), s (a few), a1 (万元, thousands), a2 (万元, tens–hundreds), y (亿元), p (%), bp, d (days), r (%).
_TOPICS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("无贷户", "两张名单"), ("完成无贷户摸排{n1:,}户，形成无贷户名单并推送银行{s}家",
                          "累计走访无贷户{n1:,}户，推送银行机构{s}家，已有{n3}户获得首贷")),
    (("首贷",), ("新增首贷户{n2}户、金额{a1:,}万元，累计设立首贷服务站点{s}个",
                "首贷中心已受理融资需求{n2}笔，促成首贷{n3}户、{a2:,}万元")),
    (("信用保证基金",), ("企业信用保证基金设立方案已形成初稿，拟首期规模{y}亿元，正在征求有关部门意见",)),
    (("信用贷款", "抵押担保"), ("本期新增信用贷款{n2}笔、{a1:,}万元，信用贷款余额{y}亿元，较年初增长{p}%",
                             "信用贷款余额{y}亿元，获得信用贷款户数较年初增加{n3}户")),
    (("银税互动", "信易贷"), ("通过“信易贷”平台发布融资需求{n2}条，撮合融资{a1:,}万元；银税互动授信{n3}户",)),
    (("应急周转",), ("应急周转资金累计使用{n3}笔、{y}亿元，平均周转时间{d}天",)),
    (("无还本续贷", "续贷", "延期还本付息"), ("累计办理无还本续贷{n2}笔、{a1:,}万元；办理延期还本付息{n3}笔、{a2:,}万元",)),
    (("中长期授信",), ("给予小微企业中长期授信{n2}户、{a1:,}万元，{n3}户免于逐年重检",)),
    (("专项信贷计划", "考核权重"), ("已单列小微企业专项信贷计划{y}亿元，小微企业贷款考核权重提高至{p}%",)),
    (("转移定价", "审批权限"), ("小微企业内部转移定价优惠{bp}个基点，向支行下放审批权限{s}项",)),
    (("激励费用", "积极性"), ("安排小微信贷专项激励费用{a2:,}万元，覆盖客户经理{n3}人",)),
    (("回告清单", "四张清单"), ("已编制授权、授信、受理回告清单，在{n3}个网点公示",)),
    (("尽职免责",), ("已制定尽职免责清单，向{n3}名客户经理公布，免责{s}笔",)),
    (("资本规模",), ("资本金补充方案已报市政府，拟增资{y}亿元",)),
    (("吸收合并", "一体化"), ("已完成{s}家县级担保机构的尽职调查，吸收合并方案正在审议",)),
    (("补偿补贴",), ("补偿补贴资金管理办法已形成征求意见稿，拟安排资金{a2:,}万元",)),
    (("担保",), ("新增担保业务{n2}笔、{a1:,}万元，在保余额{y}亿元",)),
    (("小额贷款公司", "小贷公司"), ("组织全市小额贷款公司开展评级，{s}家获评A级",)),
    (("天使投资", "风投创投", "政府投资基金", "社会资金"), ("已对接基金管理人{s}家，拟设立规模{y}亿元的基金",)),
    (("上市",), ("上市后备企业{n3}家，{s}家完成股份制改造，1家进入辅导期",)),
    (("注册登记", "照前联合会商"), ("办理股权投资企业注册登记{s}户，平均办结时间{d}个工作日",)),
    (("2+1", "优惠利率"), ("运用支小再贷款发放优惠利率贷款{n2}笔、{a1:,}万元，加权平均利率{r}%",)),
    (("征信",), ("对接征信平台查询{n1:,}次，发放首贷、续贷、信用贷合计{a1:,}万元",)),
    (("应付账款确权", "核心企业"), ("推动{s}家核心企业对上下游{n3}户小微企业应付账款确权{a1:,}万元",)),
    (("应收账款融资服务平台",), ("通过应收账款融资服务平台促成融资{n2}笔、{a1:,}万元",)),
    (("政采智贷", "政采贷"), ("办理“政采智贷”{n2}笔、{a1:,}万元，未要求供应商提供其他担保",)),
    (("票据",), ("办理供应链票据贴现{n2}笔、{a1:,}万元",)),
    (("仓单", "知识产权", "抵质押"), ("发放知识产权、仓单等抵质押贷款{n2}笔、{a1:,}万元",)),
    (("按份抵押",), ("开展共有厂房按份抵押融资{s}笔、{a2:,}万元",)),
    (("资产授托",), ("资产授托融资模式正在调研，已走访企业{n3}户",)),
    (("碳账户",), ("参与碳账户金融试点，已建立企业碳账户{n3}户",)),
    (("创业担保贷款",), ("发放创业担保贷款{n2}笔、{a1:,}万元，贴息{a2:,}万元",)),
    (("专精特新",), ("推出“专精特新贷”等专属产品{s}款，支持企业{n3}户、{a1:,}万元",)),
    (("差异化监管", "风险容忍"), ("督促银行提高小微企业贷款不良容忍度，{s}家银行已出台差异化考核办法",)),
    (("科技型企业", "科技金融"), ("组织科技型企业与金融机构对接活动{s}场，参会企业{n3}家，达成融资意向{y}亿元",)),
    (("融资",), ("组织银企对接活动{s}场，达成融资意向{n2}笔、{a1:,}万元",)),
)
_FALLBACK_FACTS = ("按计划推进各项工作，已召开推进会{s}次，协调解决问题{n3}个", "已建立工作台账，按月调度，累计对接市场主体{n2}户")
_ACTIONS = (
    "1.制定工作方案，明确责任分工；2.建立工作台账，按双周调度；3.加强与有关部门、银行机构对接。",
    "成立工作专班，分管领导牵头，细化任务清单和时间节点，定期通报进展。",
    "1.摸清底数；2.分类施策；3.跟踪问效，每月召开一次推进会。",
    "将该项任务纳入年度重点工作，逐项明确责任科室和责任人，按时报送进展。",
    "印发实施细则，组织专题培训，开展督导检查。",
)
_GOALS = (
    "按时限要求完成任务，形成可复制推广的经验。",
    "全年完成目标任务，服务市场主体数量明显增加。",
    "确保政策落实到位，企业获得感明显增强。",
    "年底前各项指标达到计划要求。",
)
_NOTES = (
    "注：本表金额单位为万元，数据截至填报日。",
    "注：进展状态按“已完成、正常推进、滞后、未启动”填写。",
    "注：以上数据为初步统计数，以正式统计为准。",
)


@dataclass
class _TaskPlan:
    start: dt.date
    finish: dt.date | None
    lag_from: dt.date | None
    lag_until: dt.date | None
    scale: float
    topic: int
    template: int
    actions: str
    goal: str

    def status(self, date: dt.date) -> str:
        if date < self.start:
            return "未启动"
        if self.finish is not None and self.finish <= date:
            return "已完成"
        if self.lag_from is not None and self.lag_from <= date and (self.lag_until is None or date < self.lag_until):
            return "滞后"
        return "正常推进"


@dataclass
class _TaskStyle:
    label: str               # name or alias written after 填报单位
    date_style: str
    meta_one_row: bool
    title_lines: int         # 1 title; 2 "附件" + title; 3 "附件" + title split over two rows
    title_newline: bool
    file_pattern: int
    file_alias: str
    contact: str
    synonyms: bool = False
    extra: str | None = None         # None, "blank", "remark"
    reorder: bool = False
    note_row: bool = False
    blank_rows: bool = False
    no_unit_line: bool = False       # no 填报单位: recognised from the title
    generic_name: bool = False       # a file name without the unit's name
    generic_sheets: bool = False     # sheets named Sheet1, Sheet2


_TASK_TITLE_LINE = "附件{n}"


class TaskLedgers:
    """The task ledgers: each unit's progress on its tasks, cycle by cycle, with the mistakes units make."""

    # =============================================================================================================
    # Task-progress ledgers

    def task_ledgers(self) -> None:
        plan = self.plan
        units = list(self.expected_units("task"))
        if not units:
            return
        n = len(self.dates)
        own = {u.id: [(lst, [t for t in lst.tasks if u.id in t.responsible]) for lst in plan.lists] for u in units}
        own = {k: [(lst, ts) for lst, ts in v if ts] for k, v in own.items()}
        rng = self.rng("task-mess")
        pool = list(units)
        rng.shuffle(pool)
        take = _Taker(pool)

        # Who misses which cycle, sends twice, sends late into a sub-folder, edits a text, … (distinct units).
        missing: dict[str, set[int]] = {}
        for idx in (1, 4):
            unit = take.one()
            if unit is not None and idx < n:
                missing.setdefault(unit.id, set()).add(idx)
        unit = take.one()
        if unit is not None and n >= 4:
            missing.setdefault(unit.id, set()).update({2, 3})
        duplicate = (take.one(), min(3, n - 1))
        supplement = (take.one(), min(2, n - 1))
        edited = [(take.one(), idx) for idx in (1, 3, 5) if idx < n]
        wrong_no = (take.one(lambda u: sum(len(ts) for _, ts in own[u.id]) >= 3), min(2, n - 1))
        missing_status = (take.one(), min(4, n - 1))
        styles = {u.id: self.task_style(u) for u in units}
        content_only = take.one()
        if content_only is not None:
            styles[content_only.id].no_unit_line = True
            styles[content_only.id].generic_name = True
        generic = take.one()
        if generic is not None:
            styles[generic.id].generic_name = True
        # Cosmetic oddities may share a unit with the ones above.
        cosmetic = [u for u in units if u is not content_only]
        rng.shuffle(cosmetic)
        look = _Taker(cosmetic)
        sheets_unit = look.one(lambda u: len(own[u.id]) >= 2)
        if sheets_unit is not None:
            styles[sheets_unit.id].generic_sheets = True
        reorder_unit = look.one()
        if reorder_unit is not None:
            styles[reorder_unit.id].reorder = True
        for u in look.many(2):
            styles[u.id].extra = "blank"
        for u in look.many(3):
            styles[u.id].extra = "remark"
        for u, lines in zip(look.many(5), (2, 2, 2, 3, 3)):
            styles[u.id].title_lines = lines
        for u in look.many(1):
            styles[u.id].title_newline = True
        look = _Taker(cosmetic[::-1])
        for u in look.many(3):
            styles[u.id].blank_rows = True
        for u in look.many(5):
            styles[u.id].note_row = True
        for u in look.many(4):
            styles[u.id].synonyms = True
        longest = max(units, key=lambda u: max((len(ts) for _, ts in own[u.id]), default=0))
        repeated_header = (longest, min(4, n - 1))

        for uid, idxs in missing.items():
            for idx in sorted(idxs):
                self.note(self.dates[idx], None, plan.unit(uid), "missing_ledger",
                          "本期未报送任务进展台账" + ("（连续两期未报）" if len(idxs) > 1 else ""))

        # Status and text plans for each unit × task (the same task in two lists shares one plan).
        plans: dict[tuple[str, str, int], _TaskPlan] = {}
        canon_ms = self._canonical_milestones()
        for u in units:
            for lst, tasks in own[u.id]:
                for t in tasks:
                    canon = self._canon(t)
                    key = (u.id, *canon)
                    if key not in plans:
                        plans[key] = self.task_plan(u, t, canon_ms.get(canon, ()))

        texts: dict[tuple[str, str, int], list[tuple[str, str]]] = {}
        for idx, cycle in enumerate(self.dates):
            crng = self.rng("task-cycle", cycle)
            present = [u for u in units if idx not in missing.get(u.id, set())]
            eligible = [u for u in present if not (duplicate[0] is u and duplicate[1] == idx)
                        and not (supplement[0] is u and supplement[1] == idx)]
            late = {u.id for u in crng.sample(eligible, min(2, len(eligible)))}
            copies: set[tuple[str, str, int]] = set()
            if idx > 0:
                candidates = [
                    (u.id, lst.name, t.no)
                    for u in present if idx - 1 not in missing.get(u.id, set())
                    for lst, ts in own[u.id] for t in ts
                    if plans[(u.id, *self._canon(t))].status(cycle) in ("正常推进", "滞后")
                ]
                copies = set(crng.sample(candidates, min(2, len(candidates))))
            for u in units:
                style = styles[u.id]
                urng = self.rng("task", u.id, cycle)
                rows_by_list = []
                for lst, tasks in own[u.id]:
                    rows = []
                    for t in tasks:
                        tp = plans[(u.id, *self._canon(t))]
                        status = tp.status(cycle)
                        text = self.progress_text(u, t, tp, cycle, status)
                        history = texts.setdefault((u.id, lst.name, t.no), [])
                        if (u.id, lst.name, t.no) in copies and history:
                            text, status = history[-1]
                        history.append((text, status))
                        rows.append(_TaskRow(t, text, status))
                    rows_by_list.append((lst, rows))
                if idx in missing.get(u.id, set()):
                    continue
                for key in copies:
                    if key[0] == u.id:
                        self.note(cycle, None, u, "progress_copied",
                                  f"{key[1]}第 {key[2]} 项的双周进展与上期完全相同（复制粘贴）")
                if u.id in late:
                    filled = cycle + dt.timedelta(days=urng.randint(1, 4))
                else:
                    filled = cycle - dt.timedelta(days=urng.choice((0, 0, 1, 1, 2, 3)))
                mods = _RowMods()
                if (u, idx) in edited:
                    mods.edit = True
                if wrong_no[0] is u and wrong_no[1] == idx:
                    mods.wrong_no = True
                if missing_status[0] is u and missing_status[1] == idx:
                    mods.drop_status = True
                if repeated_header[0] is u and repeated_header[1] == idx:
                    mods.repeat_header = True
                folder = None
                if duplicate[0] is u and duplicate[1] == idx:
                    filled = cycle - dt.timedelta(days=1)
                if supplement[0] is u and supplement[1] == idx:
                    filled = cycle + dt.timedelta(days=5)
                    folder = "补报"
                rel = self.write_task_book(u, cycle, idx, rows_by_list, style, filled, mods, folder=folder)
                if u.id in late or folder:
                    self.note(cycle, rel, u, "late_report", f"填报日期 {filled.isoformat()} 晚于报送日"
                              + ("，放在“补报”子文件夹" if folder else ""))
                if duplicate[0] is u and duplicate[1] == idx:
                    first = rel
                    revised = [(lst, [_TaskRow(r.task, r.progress, r.status) for r in rows]) for lst, rows in rows_by_list]
                    rows0 = revised[0][1]
                    if rows0:
                        last = rows0[-1]
                        rows0[-1] = _TaskRow(last.task, f"{last.progress}（本期更正：补充最新数据）",
                                             "已完成" if last.status == "正常推进" else last.status)
                    second = self.write_task_book(u, cycle, idx, revised, style, cycle + dt.timedelta(days=1),
                                                  _RowMods(), name_suffix="（修改版）")
                    self.note(cycle, second, u, "duplicate_ledger",
                              f"同一单位本期报送两份任务进展台账：「{first}」和「{second}」，后者填报日期较晚")
                for code, text in mods.notes:
                    self.note(cycle, rel, u, code, text)
        for u in units:
            st = styles[u.id]
            where = "（各期）"
            if st.no_unit_line:
                self.note(self.names[0], None, u, "unit_from_title", "任务台账没有“填报单位”行，文件名也不含单位名称，只能从标题识别单位" + where)
            elif st.generic_name:
                self.note(self.names[0], None, u, "generic_file_name", "文件名不含单位名称，需从“填报单位”识别" + where)
            if st.generic_sheets:
                self.note(self.names[0], None, u, "generic_sheet_names", "工作表名为 Sheet1/Sheet2，需按标题区分清单" + where)
            if st.reorder:
                self.note(self.names[0], None, u, "columns_reordered", "列顺序与模板不同" + where)
            if st.extra == "blank":
                self.note(self.names[0], None, u, "extra_blank_column", "表中多一列空列" + where)
            if st.extra == "remark":
                self.note(self.names[0], None, u, "extra_remark_column", "表末多一列“备注”" + where)
            if st.synonyms:
                self.note(self.names[0], None, u, "status_synonyms", "进展状态用同义词填写（进行中、已办结等）" + where)
            if st.note_row:
                self.note(self.names[0], None, u, "note_row", "表末有一行“注：…”说明" + where)
            if st.blank_rows:
                self.note(self.names[0], None, u, "blank_rows", "任务之间夹有空行" + where)
            if st.title_lines > 1 or st.title_newline:
                self.note(self.names[0], None, u, "multi_line_title", "标题占两到三行" + where)

    def _canon(self, task: Task) -> tuple[str, int]:
        return task.same_as if task.same_as else (task.list_name, task.no)

    def _canonical_milestones(self) -> dict[tuple[str, int], tuple]:
        out: dict[tuple[str, int], tuple] = {}
        for t in self.plan.tasks:
            if t.milestones:
                out.setdefault(self._canon(t), t.milestones)
        return out

    def task_style(self, u: Unit) -> _TaskStyle:
        rng = self.rng("task-style", u.id)
        labels = [u.name, *u.aliases]
        return _TaskStyle(
            label=rng.choice(labels) if rng.random() < 0.5 else u.name,
            date_style=rng.choice(("cell", "cjk", "cjk", "dot", "iso", "slash")),
            meta_one_row=rng.random() < 0.4,
            title_lines=1,
            title_newline=False,
            file_pattern=rng.randrange(7),
            file_alias=_file_alias(u, rng),
            contact=_contact(rng),
        )

    def task_plan(self, u: Unit, task: Task, milestones: tuple) -> _TaskPlan:
        rng = self.rng("task-plan", u.id, *self._canon(task))
        first, last = self.dates[0], self.dates[-1]
        span = max((last - first).days, 15)
        start = first - dt.timedelta(days=30)
        if rng.random() < 0.12:
            start = first + dt.timedelta(days=rng.randint(1, max(1, span - 10)))
        dated = [m.due for m in milestones if m.due is not None]
        final = [m.due for m in milestones
                 if m.due is not None and m.due.year == self.plan.year and "评估" not in m.text]
        finish = lag_from = lag_until = None
        if final:
            finish = max(final)
            if rng.random() < 0.12:
                lag_from = min(dated) + dt.timedelta(days=1)
                finish = finish + dt.timedelta(days=rng.randint(20, 80))
            elif rng.random() < 0.8:
                finish = finish - dt.timedelta(days=rng.randint(0, 25))
            else:
                finish = finish + dt.timedelta(days=rng.randint(1, 8))
        else:
            if rng.random() < 0.12:
                finish = first + dt.timedelta(days=rng.randint(10, span + 10))
            if rng.random() < 0.07:
                lag_from = first + dt.timedelta(days=rng.randint(10, span))
                lag_until = lag_from + dt.timedelta(days=rng.randint(14, 45))
        start = min(start, finish) if finish else start
        topic = _topic_of(task)
        facts = _TOPICS[topic][1] if topic >= 0 else _FALLBACK_FACTS
        return _TaskPlan(
            start=start, finish=finish, lag_from=lag_from, lag_until=lag_until,
            scale=rng.uniform(0.5, 2.0), topic=topic, template=rng.randrange(len(facts)),
            actions=rng.choice(_ACTIONS), goal=rng.choice(_GOALS),
        )

    def progress_text(self, u: Unit, task: Task, tp: _TaskPlan, cycle: dt.date, status: str) -> str:
        rng = self.rng("progress", u.id, *self._canon(task), cycle)
        if status == "未启动":
            month = (tp.start.month if tp.start > cycle else cycle.month % 12 + 1)
            return rng.choice((f"尚未启动，计划于{month}月启动。", f"正在研究具体措施，计划{month}月启动。"))
        k = max(1, sum(1 for d in self.dates if tp.start <= d <= cycle))
        grow = k * tp.scale * rng.uniform(0.92, 1.08)
        values = {
            "n1": round(180 * grow + 40), "n2": round(12 * grow + 3), "n3": round(4 * grow + 1),
            "s": max(1, round(1.5 * grow)), "a1": round(850 * grow + 100), "a2": round(60 * grow + 10),
            "y": round(0.6 * grow + 0.2, 2), "p": round(5 + 2.5 * grow, 1), "bp": rng.randint(30, 80),
            "d": rng.randint(2, 9), "r": round(rng.uniform(3.65, 5.2), 2),
        }
        facts = _TOPICS[tp.topic][1] if tp.topic >= 0 else _FALLBACK_FACTS
        fact = facts[tp.template % len(facts)].format(**values)
        who = "我行" if u.kind == "bank" else ""
        if u.kind == "county":
            who = "我县" if "县" in u.name else "我区" if "区" in u.name else "我市"
        if status == "已完成":
            fact = re.sub(r"，?正在[^，；。]*", "", fact)
            return rng.choice((f"已完成。{fact}。", f"该项任务已完成，{fact}。", f"已完成，{who}{fact}。"))
        if status == "滞后":
            return rng.choice((
                f"{fact}；受疫情影响，部分工作进度滞后，下一步将加快推进。",
                f"工作方案尚在修改完善中，{fact}，进度滞后于计划。",
            ))
        opener = ("已研究制定工作方案，明确责任科室和时间节点；" if k == 1
                  else rng.choice(("", "持续推进，", "本期", "截至目前，")))
        if opener and fact.startswith(opener.rstrip("，")):
            opener = ""
        closer = rng.choice(("。", "，下一步将继续加大工作力度。", "，各项工作按计划推进。"))
        return f"{opener}{who if opener == '' else ''}{fact}{closer}"

    def write_task_book(self, u: Unit, cycle: dt.date, idx: int, rows_by_list: list, style: _TaskStyle,
                        filled: dt.date, mods: _RowMods, *, folder: str | None = None, name_suffix: str = "") -> str:
        rng = self.rng("task-book", u.id, cycle, name_suffix)
        sheets = []
        for pos, (lst, rows) in enumerate(rows_by_list):
            sheet_name = f"Sheet{pos + 1}" if style.generic_sheets else lst.name
            sheets.append(self.task_sheet(u, cycle, lst, rows, style, filled, mods, sheet_name, rng))
        if self._embeds_noloan(u) and idx in self.noloan_sends.get(u.id, ()):
            sheets.append(self.noloan_sheet(u, cycle, filled, embedded=True))
        target_rows = demo_targets.target_rows(self.plan, u, cycle)
        if target_rows:      # the targets the unit reports itself, in the same workbook
            sheets.append(_Sheet("指标", rows=target_rows, merges=[(1, 1, 1, len(target_rows[1]))],
                                 widths=dict(demo_targets.TARGET_WIDTHS), bold_rows={1, 2}, header_row=2))
        created, modified = self.stamps(cycle, filled)
        data = _workbook_bytes(sheets, created, modified, style.contact.split()[0])
        name = self.task_file_name(u, cycle, style) + name_suffix
        kinds = ("task", "noloan") if len(sheets) > len(rows_by_list) + bool(target_rows) else ("task",)
        return self.add_file(cycle, name, data, u, kinds, folder=folder)

    def task_file_name(self, u: Unit, cycle: dt.date, style: _TaskStyle) -> str:
        m, d, mmdd, a = cycle.month, cycle.day, cycle.strftime("%m%d"), style.file_alias
        lists = "和".join(lst.name for lst in self.plan.lists)
        if style.generic_name:
            return "新建 XLSX 工作表" if style.no_unit_line else f"双周进展台账{mmdd}"
        patterns = (
            f"{a}{m}.{d}台账", f"{a}{m}.{d}台账(1)", f"{a}-双周台账-{mmdd}", f"{a} 进展情况",
            f"{u.name}抓落实清单进展情况（{m}月{d}日）", f"附件 {a}{lists}{mmdd}", f"{m}.{d}{a}",
        )
        return patterns[style.file_pattern % len(patterns)]

    def task_sheet(self, u: Unit, cycle: dt.date, lst: TaskList, rows: list[_TaskRow], style: _TaskStyle,
                   filled: dt.date, mods: _RowMods, sheet_name: str, rng: random.Random) -> _Sheet:
        roles = list(lst.columns)
        if style.reorder:
            roles = _reordered(roles)
        headers: list[str | None] = [lst.columns[r] for r in roles]
        if style.extra == "blank":
            at = min(3, len(roles))
            roles.insert(at, "_blank")
            headers.insert(at, None)
        if style.extra == "remark":
            roles.append("_remark")
            headers.append("备注")
        width = len(roles)
        sheet = _Sheet(sheet_name)

        title = self.plan.title
        list_title = title if lst.name in title else f"{title}抓落实{lst.name}"
        label = u.name if style.no_unit_line else style.label
        full_title = f"{list_title}（{label} {cycle.isoformat()}）"
        if style.title_newline:
            full_title = f"{list_title}\n（{label} {cycle.isoformat()}）"
        if style.title_lines >= 2:
            sheet.rows.append([_TASK_TITLE_LINE.format(n=2 + self.plan.lists.index(lst))])
        if style.title_lines == 3:
            cut = max(4, len(list_title) - 6)
            sheet.rows.append([list_title[:cut]])
            sheet.rows.append([f"{list_title[cut:]}（{label} {cycle.isoformat()}）"])
        else:
            sheet.rows.append([full_title])
        for r in range(len(sheet.rows)):
            sheet.merges.append((r + 1, 1, r + 1, width))
            sheet.bold_rows.add(r + 1)
        date_value = _date_text(filled, style.date_style)
        unit_cells: list[Any] = [] if style.no_unit_line else (
            ["填报单位：", style.label] if style.date_style == "cell" else [f"填报单位：{style.label}"])
        date_cells: list[Any] = ["填报日期：", date_value] if style.date_style == "cell" else [f"填报日期：{date_value}"]
        contact_cells = [f"联系人：{style.contact}"]
        if style.meta_one_row:
            row = unit_cells + [None] + date_cells + [None] + contact_cells
            sheet.rows.append(row)
        else:
            for cells in (unit_cells, date_cells, contact_cells):
                if cells:
                    sheet.rows.append(cells)
        header_row = len(sheet.rows) + 1
        sheet.rows.append(list(headers))
        sheet.header_row = header_row
        sheet.bold_rows.add(header_row)

        group_runs: list[tuple[int, str | None]] = []   # (row number, group) of data rows, None to break a run
        repeat_at = len(rows) // 2 if mods.repeat_header and len(rows) >= 12 else None
        for i, row in enumerate(rows):
            if repeat_at is not None and i == repeat_at:
                sheet.rows.append(list(headers))
                group_runs.append((len(sheet.rows), None))
                mods.notes.append(("header_repeated", f"{lst.name}第 {len(sheet.rows)} 行重复了表头"))
            if style.blank_rows and i > 0 and i % 5 == 0:
                sheet.rows.append([None] * width)
                group_runs.append((len(sheet.rows), None))
            task = row.task
            text = task.text
            no: Any = task.no
            if mods.edit and not mods.edit_done:
                edited = _edit_text(text)
                if edited:
                    text, mods.edit_done = edited, True
                    mods.notes.append(("task_text_edited", f"{lst.name}第 {task.no} 项的主要任务被改写：「{edited}」"))
            if mods.wrong_no and not mods.wrong_no_done and len(rows) >= 3 and i == len(rows) // 2:
                wrong = _wrong_number(lst, task)
                if wrong is not None:
                    no = wrong
                    mods.wrong_no_done = True
                    mods.notes.append(("task_no_mismatch", f"{lst.name}第 {task.no} 项的序号误填为 {wrong}"))
            status: Any = row.status
            if style.synonyms and status in _STATUS_WORDS and rng.random() < 0.6:
                status = rng.choice(_STATUS_WORDS[status])
            if mods.drop_status and not mods.drop_status_done and i == 0:
                status = None
                mods.drop_status_done = True
                mods.notes.append(("status_missing", f"{lst.name}第 {task.no} 项未填进展状态"))
            values = {
                "no": no, "group": task.group, "item": task.group, "text": text, "deadline": task.deadline,
                "actions": self.task_actions(u, task), "goal": self.task_goal(u, task),
                "progress": row.progress, "status": status,
                "lead": self.unit_list(task.lead) if "lead" in roles else None,
                "units": self.unit_list(task.units) if "units" in roles else None,
                "_blank": None,
                "_remark": rng.choice(("", "", "", "数据截至本月", "已报送纸质材料", "牵头单位汇总")) or None,
            }
            sheet.rows.append([values.get(r) for r in roles])
            group_runs.append((len(sheet.rows), task.group or ""))
        for role in ("group", "item"):
            if role in roles:
                col = roles.index(role) + 1
                sheet.merges.extend(_group_merges(group_runs, col, sheet.rows))
        if style.note_row:
            sheet.rows.append([rng.choice(_NOTES)])
        widths = {"no": 6, "group": 14, "item": 14, "text": 40, "deadline": 18, "actions": 30, "goal": 24,
                  "progress": 50, "status": 10, "lead": 16, "units": 24, "_remark": 12, "_blank": 4}
        sheet.widths = {i + 1: widths.get(r, 14) for i, r in enumerate(roles)}
        return sheet

    def unit_list(self, ids: tuple[str, ...]) -> str:
        return "、".join(_short_name(self.plan.unit(x)) for x in ids)

    def task_actions(self, u: Unit, task: Task) -> str:
        return self.rng("actions", u.id, *self._canon(task)).choice(_ACTIONS)

    def task_goal(self, u: Unit, task: Task) -> str:
        return self.rng("goal", u.id, *self._canon(task)).choice(_GOALS)

    def _embeds_noloan(self, u: Unit) -> bool:
        """One county puts its no-loan list into its task workbook (when it sends both kinds)."""
        return u.id == self.embedding_county


# ---------------------------------------------------------------------------------------------------------------
# Small pure helpers


@dataclass
class _TaskRow:
    task: Task
    progress: str
    status: str


@dataclass
class _RowMods:
    edit: bool = False
    edit_done: bool = False
    wrong_no: bool = False
    wrong_no_done: bool = False
    drop_status: bool = False
    drop_status_done: bool = False
    repeat_header: bool = False
    notes: list[tuple[str, str]] = field(default_factory=list)


def _topic_of(task: Task) -> int:
    text = f"{task.text}{task.group or ''}"
    for i, (words, _) in enumerate(_TOPICS):
        if any(w in task.text for w in words):
            return i
    for i, (words, _) in enumerate(_TOPICS):
        if any(w in text for w in words):
            return i
    return -1


def _edit_text(text: str) -> str | None:
    """A slight rewrite of a task text (as units do), similar enough to be recognised as the same task."""
    candidates = []
    if "推动" in text:
        candidates.append(text.replace("推动", "积极推动", 1))
    if "银行业机构" in text:
        candidates.append(text.replace("银行业机构", "银行机构", 1))
    parts = re.split(r"(?<=[，；])", text)
    if len(parts) >= 3:
        candidates.append("".join(parts[:-1]).rstrip("，；") + "。")
    candidates.append(text.rstrip("。") + "等工作。")
    for candidate in candidates:
        if text_key(candidate) != text_key(text) and similarity(candidate, text) >= 0.8:
            return candidate
    return None


def _wrong_number(lst: TaskList, task: Task) -> int | None:
    """A 序号 typed wrongly: a swapped or neighbouring number whose task reads quite differently."""
    numbers = {t.no: t for t in lst.tasks}
    digits = str(task.no)
    options = [int(digits[::-1])] if len(digits) == 2 and digits[0] != digits[1] else []
    options += [task.no + 10, task.no + 1, task.no - 1, task.no + 2]
    for no in options:
        other = numbers.get(no)
        if no > 0 and other is not None and similarity(other.text, task.text) < 0.5:
            return no
    return None


def _group_merges(runs: list[tuple[int, str | None]], col: int, rows: list[list[Any]]) -> list[tuple[int, int, int, int]]:
    """Merge the 工作要求 cells of consecutive rows with the same group; keep the value in the first cell only."""
    merges = []
    i = 0
    while i < len(runs):
        row, group = runs[i]
        j = i
        while (group and j + 1 < len(runs) and runs[j + 1][1] == group and runs[j + 1][0] == runs[j][0] + 1):
            j += 1
        if j > i:
            for r, _ in runs[i + 1:j + 1]:
                rows[r - 1][col - 1] = None
            merges.append((row, col, runs[j][0], col))
        i = j + 1
    return merges


def _reordered(roles: list[str]) -> list[str]:
    """Columns as one unit rearranged them: 进展状态 before 双周进展情况, 完成时限 moved to the end."""
    out = list(roles)
    if "status" in out and "progress" in out:
        out.remove("status")
        out.insert(out.index("progress"), "status")
    if "deadline" in out:
        out.remove("deadline")
        out.append("deadline")
    if out == roles and len(out) >= 3:
        out[1], out[2] = out[2], out[1]
    return out
