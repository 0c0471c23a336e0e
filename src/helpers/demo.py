"""Deterministic demo ledgers: realistic, deliberately messy workbooks for every cycle of a plan.

`write_demo(plan, out)` writes `out/<cycle>/<file>.xlsx` as units really send them: task-progress ledgers from
every responsible unit, and, when the plan expects them, lending ledgers from every bank, no-loan lists from the
counties and guarantee ledgers from the guarantee institutions. Everything comes from the plan (units, aliases,
lists and their columns, milestones, bank plans); the names of borrowers, contacts and figures are fictional.

Same plan and cycles → byte-identical files: all randomness is `random.Random` seeded from the plan id, the cycle
and a topic; workbook timestamps and zip entry dates are derived from the cycle. The mess (late and missing
ledgers, copy-pasted progress, an edited task text, a wrong 序号, odd file names, two versions of one ledger, …) is
listed in `out/.demo-manifest.json` under `mess`, with the cycle, file and unit where each item sits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.writer.excel import ExcelWriter

from . import demo_targets
from .cycles import (
    CalendarUnavailable,
    add_workdays,
    cycles_between,
    elapsed_share,
    parse_cycle,
    previous_cycle,
)
from .fingerprints import file_sha256
from .formats import (
    APPLICATIONS,
    BANK_SUMMARY,
    GUARANTEE_SUMMARY,
    GUARANTEES,
    LOANS,
    NOLOAN_LIST,
)
from .identifiers import USCC_ALPHABET, make_resident_id, make_uscc, normalize_id
from .lending import identity_key
from .plan import Plan, Task, TaskList, Unit
from .values import similarity, text_key

__all__ = ["DEMO_VERSION", "MANIFEST_NAME", "DemoSet", "build_demo", "default_cycles", "write_demo"]

DEMO_VERSION = 2   # bump when the generated ledgers change, so that `make demo` writes them again
MANIFEST_NAME = ".demo-manifest.json"
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


# ---------------------------------------------------------------------------------------------------------------
# Public verbs


@dataclass(frozen=True)
class DemoSet:
    """The demo in memory: relative path → workbook bytes, and the deliberate mess with its place."""

    cycles: tuple[str, ...]
    files: dict[str, bytes]
    units: dict[str, str]                      # relative path → unit id that sent it
    kinds: dict[str, tuple[str, ...]]          # relative path → ledger kinds it holds
    mess: tuple[dict[str, str], ...]


def default_cycles(plan: Plan) -> list[str]:
    """The report dates from 10 April to 25 June of the plan year (six cycles with report days 10 and 25)."""
    start, end = dt.date(plan.year, 4, 10), dt.date(plan.year, 6, 25)
    return [d.isoformat() for d in cycles_between(start, end, plan.report_days)]


def build_demo(plan: Plan, cycles: Sequence[str] | None = None) -> DemoSet:
    """Generate every demo workbook in memory (nothing is written)."""
    names = sorted(dict.fromkeys(cycles if cycles is not None else default_cycles(plan)))
    if not names:
        raise ValueError("演示数据至少需要一个周期")
    dates = [parse_cycle(name, plan.report_days) for name in names]
    return _Generator(plan, dates).run()


def write_demo(plan: Plan, out: Path, *, cycles: list[str] | None = None, force: bool = False) -> str:
    """Write the demo ledgers to `out/<cycle>/…` and a manifest `out/.demo-manifest.json`; return a summary.

    Idempotent: when the manifest says `out` already holds exactly this demo (same generator version, plan and
    cycles, every file present with its sha256), nothing is written unless `force`. Never writes outside `out`;
    files listed in an older manifest and no longer generated are removed, nothing else is touched.
    """
    names = sorted(dict.fromkeys(cycles if cycles is not None else default_cycles(plan)))
    for name in names:
        parse_cycle(name, plan.report_days)   # a CycleError (ValueError) before anything is written
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    fingerprint = _plan_fingerprint(plan)
    manifest_path = _inside(root, MANIFEST_NAME)
    old = _read_manifest(manifest_path)
    if not force and old and _manifest_current(root, old, fingerprint, names):
        return f"{len(names)} 个周期，共 {len(old['files'])} 个文件，已存在且一致，未重写"

    demo = build_demo(plan, names)
    new_paths = set(demo.files)
    for entry in (old or {}).get("files", []):
        rel = entry.get("path") if isinstance(entry, dict) else None
        if rel and rel not in new_paths:
            try:
                stale = _inside(root, rel)
            except ValueError:
                continue
            if stale.is_file():
                stale.unlink()
                _prune_empty_dirs(stale.parent, root)
    for rel, data in demo.files.items():
        target = _inside(root, rel)
        if target.is_file() and target.read_bytes() == data:
            continue
        _write_atomic(target, data, root)
    manifest = {
        "version": DEMO_VERSION,
        "generator": "helpers.demo",
        "plan": plan.id,
        "plan_sha256": fingerprint,
        "cycles": list(demo.cycles),
        "files": [
            {"path": rel, "sha256": _sha256(data), "unit": demo.units.get(rel), "kinds": list(demo.kinds.get(rel, ()))}
            for rel, data in demo.files.items()
        ],
        "mess": list(demo.mess),
    }
    _write_atomic(manifest_path, (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode("utf-8"), root)
    return f"{len(demo.cycles)} 个周期，共 {len(demo.files)} 个文件"


# ---------------------------------------------------------------------------------------------------------------
# Files: safe paths, manifest, deterministic workbooks


def _inside(root: Path, rel: str) -> Path:
    """`root/rel`, refusing anything that would land outside `root` (absolute paths, `..`, symlinks)."""
    rel_path = Path(rel)
    if rel_path.is_absolute() or ".." in rel_path.parts:
        raise ValueError(f"拒绝写到演示目录之外：{rel}")
    target = (root / rel_path).resolve()
    try:
        target.relative_to(root)
    except ValueError:
        raise ValueError(f"拒绝写到演示目录之外：{target}") from None
    return target


def _write_atomic(target: Path, data: bytes, root: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _inside(root, str(target.parent.relative_to(root)) if target.parent != root else ".")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _prune_empty_dirs(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plan_fingerprint(plan: Plan) -> str:
    parts = (plan.id, plan.title, plan.year, plan.report_days, plan.units, plan.lists, plan.ledgers,
             plan.bank_plans, sorted(plan.collectives.items()))
    return _sha256(repr(parts).encode("utf-8"))


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _manifest_current(root: Path, manifest: dict, fingerprint: str, cycles: list[str]) -> bool:
    if (manifest.get("version"), manifest.get("plan_sha256"), manifest.get("cycles")) != (
        DEMO_VERSION, fingerprint, cycles
    ):
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return False
    for entry in files:
        try:
            path = _inside(root, entry["path"])
            if not path.is_file() or file_sha256(path) != entry["sha256"]:
                return False
        except (KeyError, TypeError, ValueError, OSError):
            return False
    return True


class _StableZip(zipfile.ZipFile):
    """A zip writer whose entries all carry one fixed date, so the same workbook gives the same bytes."""

    def __init__(self, file: io.BytesIO, stamp: dt.datetime):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self._stamp = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(str(zinfo_or_arcname), self._stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        with open(filename, "rb") as fh:
            data = fh.read()
        self.writestr(arcname or os.path.basename(filename), data)


class _MemoryExcelWriter(ExcelWriter):
    """openpyxl's writer, with worksheets serialised in memory instead of through temporary files."""

    def write_worksheet(self, ws):
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = WorksheetWriter(ws, out=io.BytesIO())
        writer.write()
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], writer.read())
        self.manifest.append(ws)


@dataclass
class _Sheet:
    """One worksheet to write: rows of cell values (1-based row numbers are their position + 1)."""

    name: str
    rows: list[list[Any]] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)   # (row1, col1, row2, col2), 1-based
    widths: dict[int, float] = field(default_factory=dict)
    bold_rows: set[int] = field(default_factory=set)
    header_row: int | None = None


def _workbook_bytes(sheets: list[_Sheet], created: dt.datetime, modified: dt.datetime, author: str) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for spec in sheets:
        ws = wb.create_sheet(spec.name)
        for row in spec.rows:
            ws.append(row)
        for r1, c1, r2, c2 in spec.merges:
            # the covered cells are already blank; skip merge_cells(), which restyles every covered cell
            ws.merged_cells.add(CellRange(min_row=r1, min_col=c1, max_row=r2, max_col=c2))
        for col, width in spec.widths.items():
            ws.column_dimensions[get_column_letter(col)].width = width
        for r in spec.bold_rows:
            for cell in ws[r]:
                if cell.value is not None:
                    cell.font = bold
        if spec.header_row:
            ws.freeze_panes = ws.cell(row=spec.header_row + 1, column=1)
    wb.properties.creator = "Administrator"
    wb.properties.lastModifiedBy = author
    wb.properties.created = created
    wb.properties.modified = modified
    buf = io.BytesIO()
    archive = _StableZip(buf, modified)
    _MemoryExcelWriter(wb, archive).save()   # not save_workbook(): it stamps `modified` with the current time
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Word lists for fictional names and texts

_SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余"
             "潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
_GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宏海波鹏辉俊峰亮宇浩凯健琳晶雪梅"
          "燕霞玲丹慧瑞鑫鸿旭东晓晨子涵欣怡佳琪博文思远嘉庆振兴永福德胜利民富贵春生秋菊冬梅")
_BRAND_A = "恒鑫瑞华永金佳宏顺嘉晋云北桑御龙泰德兴昌丰盛源达通诚信和祥福康宇博安平润弘旭锦鸿"
_BRAND_B = "泰源丰晟盛鼎禾达通诚阳冈岳干河腾德兴昌盛利发祥隆辉宏远鑫业成鹏程茂嘉瑞华安康顺"
_INDUSTRIES = (
    # 行业, company suffixes, 个体工商户 suffixes, guarantee type of its companies
    ("批发和零售业", ("商贸有限公司", "贸易有限公司", "物资有限公司"), ("便民超市", "百货商店", "五金门市部", "日杂商店"), "小微企业"),
    ("住宿和餐饮业", ("餐饮管理有限公司", "酒店管理有限公司"), ("小吃店", "刀削面馆", "快餐店", "烧烤店"), "小微企业"),
    ("制造业", ("机械制造有限公司", "食品有限公司", "建材有限公司"), ("加工厂", "豆腐坊", "门窗加工部"), "小微企业"),
    ("农、林、牧、渔业", ("农牧专业合作社", "种植专业合作社", "养殖有限公司"), ("养殖场", "种植园", "农资门市部"), "三农"),
    ("交通运输、仓储和邮政业", ("物流有限公司", "运输有限公司"), ("货运部", "快递代办点"), "小微企业"),
    ("建筑业", ("建筑工程有限公司", "装饰工程有限公司"), ("装修部", "水暖门市部"), "小微企业"),
    ("居民服务、修理和其他服务业", ("家政服务有限公司", "物业管理有限公司"), ("汽修部", "理发店", "洗衣店"), "小微企业"),
    ("信息传输、软件和信息技术服务业", ("信息技术有限公司", "科技有限公司", "新能源科技有限公司"), ("电脑维修部", "手机店"), "战略性新兴产业"),
    ("文化、体育和娱乐业", ("文化传媒有限公司", "文化旅游开发有限公司"), ("照相馆", "书店"), "其他"),
)
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


def _contact(rng: random.Random) -> str:
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
    return f"{name}  电话：0352-{rng.randint(2000000, 7999999)}"


def _person_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _short_name(unit: Unit) -> str:
    """The shortest readable alias (3+ characters) for lists of units and pushed-to banks."""
    names = [a for a in unit.aliases if len(a) >= 3] or [unit.name]
    return min(names, key=lambda n: (len(n), n))


def _file_alias(unit: Unit, rng: random.Random) -> str:
    names = [n for n in unit.names if len(n) >= 3 and not _UNSAFE_NAME.search(n)]
    return rng.choice(names) if names else _safe(unit.name)


def _safe(name: str) -> str:
    return _UNSAFE_NAME.sub("_", name).strip() or "台账"


def _date_text(date: dt.date, style: str) -> Any:
    if style == "cell":
        return date
    if style == "cjk":
        return f"{date.year}年{date.month}月{date.day}日"
    if style == "dot":
        return f"{date.year}.{date.month}.{date.day}"
    if style == "slash":
        return f"{date.year}/{date.month}/{date.day}"
    if style == "int":
        return int(date.strftime("%Y%m%d"))
    return date.isoformat()


# ---------------------------------------------------------------------------------------------------------------
# The world: fictional market entities, bank figures and the plan for each unit × task


@dataclass
class _Party:
    name: str
    id: str
    type: str            # 小微企业 / 个体工商户 / 小微企业主 / 农户
    county: str
    industry: str
    gtype: str           # type in a guarantee ledger
    history: bool        # had a loan before this year
    home_bank: str | None = None


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


@dataclass
class _Bank:
    unit: Unit
    size: float              # 各项贷款年初余额, 万元
    total_growth: float
    credit_share0: float
    credit_drift: float
    sme0: float
    sme_increase: float      # annual planned increase (万元) × pace
    yoy: float
    renewal_share: float
    long_share: float
    bp: int
    amount_unit: str         # 万元, 万元h (header says 万元), 亿元, 元, sheet亿元 (a 金额单位 line)
    date_style: str
    rate_text: bool
    bool_style: str
    has_applications: bool
    total_row: bool
    loans_per_cycle: tuple[int, int]
    no_unit_line: bool = False


_TASK_TITLE_LINE = "附件{n}"


class _FirstLoans:
    """The first-loan households of the year so far as the suite derives them from the ledgers' 贷款明细
    (`lending.first_loan_claims`): a borrower, known by the identifier as read back from the ledger, counts for
    the bank with its earliest claim (发放日期, then bank name) in the first cycle it has any loan, unless the loan
    is a renewal."""

    def __init__(self) -> None:
        self.seen: set[str] = set()          # borrowers with a loan in an earlier cycle's ledgers
        self.per_bank: dict[str, int] = {}   # bank id → first-loan households so far

    def add_cycle(self, ledgers: list[tuple[_Bank, list[dict]]]) -> None:
        claims = []
        now: set[str] = set()
        for bank, loans in ledgers:
            for loan in loans:
                key = _read_back_key(loan["written_id"], loan["party"].name)
                now.add(key)
                if loan["first"] and not loan["renewal"] and key not in self.seen:
                    claims.append((loan["date"], bank.unit.name, bank.unit.id, key))
        counted: set[str] = set()
        for _, _, bank_id, key in sorted(claims):
            if key not in counted:
                counted.add(key)
                self.per_bank[bank_id] = self.per_bank.get(bank_id, 0) + 1
        self.seen |= now


def _read_back_key(written: Any, name: str) -> str:
    """The borrower key the suite gives a 证件号码 cell as written: a number comes back as a double (an 18-digit
    resident ID loses its last digits)."""
    if isinstance(written, int):
        written = int(float(written))
    return identity_key(normalize_id(written), name) or name


class _Generator:
    def __init__(self, plan: Plan, dates: list[dt.date]):
        self.plan = plan
        self.dates = dates
        self.names = [d.isoformat() for d in dates]
        self.files: dict[str, bytes] = {}
        self.file_units: dict[str, str] = {}
        self.file_kinds: dict[str, tuple[str, ...]] = {}
        self.mess: list[dict[str, str]] = []
        self.city = self._city_name()
        county_units = plan.units_of(kind="county")
        self.counties = [u.county or u.name for u in county_units] or [self.city]
        self.expected = {kind: plan.expected_units(kind) for kind in plan.ledgers}
        both = [c for c in self.expected.get("noloan", ()) if c in self.expected.get("task", ())]
        self.embedding_county = both[1].id if len(both) >= 2 else None

    # ----- helpers -----
    def expected_units(self, kind: str) -> tuple[Unit, ...]:
        return self.expected.get(kind, ())

    def rng(self, *parts: Any) -> random.Random:
        return random.Random("|".join((self.plan.id, *map(str, parts))))

    def _city_name(self) -> str:
        match = re.match(r"^(.{2,4}?市)", self.plan.title)
        return match.group(1) if match else ""

    def note(self, cycle: dt.date | str, file: str | None, unit: Unit | None, code: str, text: str) -> None:
        self.mess.append({
            "cycle": str(cycle), "file": file or "", "unit": unit.id if unit else "",
            "code": code, "note": text,
        })

    def add_file(self, cycle: dt.date, name: str, data: bytes, unit: Unit, kinds: Iterable[str],
                 folder: str | None = None) -> str:
        base = _safe(name.removesuffix(".xlsx"))
        prefix = f"{cycle.isoformat()}/" + (f"{folder}/" if folder else "")
        rel = f"{prefix}{base}.xlsx"
        n = 2
        while rel in self.files:
            rel = f"{prefix}{base}({n}).xlsx"
            n += 1
        self.files[rel] = data
        self.file_units[rel] = unit.id
        self.file_kinds[rel] = tuple(kinds)
        return rel

    def stamps(self, cycle: dt.date, filled: dt.date) -> tuple[dt.datetime, dt.datetime]:
        created = dt.datetime.combine(cycle - dt.timedelta(days=6), dt.time(9, 0))
        modified = dt.datetime.combine(max(filled, cycle - dt.timedelta(days=5)), dt.time(17, 30))
        return created, modified

    def run(self) -> DemoSet:
        kinds = self.plan.ledgers
        if {"lending", "noloan", "guarantee"} & set(kinds):
            self.lending_world()
        if "task" in kinds:
            self.task_ledgers()
        if "noloan" in kinds:
            self.noloan_lists()
        if "lending" in kinds:
            self.lending_ledgers()
        if "guarantee" in kinds:
            self.guarantee_ledgers()
        order = sorted(self.files)
        return DemoSet(
            cycles=tuple(self.names),
            files={k: self.files[k] for k in order},
            units={k: self.file_units[k] for k in order},
            kinds={k: self.file_kinds[k] for k in order},
            mess=tuple(sorted(self.mess, key=lambda m: (m["cycle"], m["code"], m["file"], m["unit"], m["note"]))),
        )

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

    # =============================================================================================================
    # The lending world: market entities, banks, no-loan lists

    def lending_world(self) -> None:
        rng = self.rng("world")
        self.parties: list[_Party] = []
        self.by_county: dict[str, list[_Party]] = {c: [] for c in self.counties}
        used_names: set[str] = set()
        used_ids: set[str] = set()
        for ci, county in enumerate(self.counties):
            area = f"1402{12 + ci:02d}" if ci < 88 else "140200"
            crng = self.rng("world-county", county)
            for kind, count in (("小微企业", 260), ("个体工商户", 260), ("小微企业主", 90), ("农户", 170)):
                for _ in range(count):
                    party = self._party(crng, kind, county, area, used_names, used_ids)
                    self.parties.append(party)
                    self.by_county[county].append(party)
        self.banks: list[_Bank] = [self._bank(u) for u in self.plan.banks]
        if self.banks:
            weights = [b.size for b in self.banks]
            for party in self.parties:
                if party.history:
                    local = [b for b in self.banks if b.unit.county == party.county]
                    if local and rng.random() < 0.6:
                        party.home_bank = rng.choice(local).unit.id
                    else:
                        party.home_bank = rng.choices(self.banks, weights)[0].unit.id
        rng_m = self.rng("lending-mess")
        order = list(self.banks)
        rng_m.shuffle(order)
        take = _Taker(order)
        n = len(self.dates)
        self.bank_missing: dict[str, int] = {}
        for idx in (1, 4):
            bank = take.one()
            if bank is not None and idx < n:
                self.bank_missing[bank.unit.id] = idx
        for unit_style in ("亿元", "元", "sheet亿元"):
            bank = take.one()
            if bank is not None:
                bank.amount_unit = unit_style
        bank = take.one()
        if bank is not None:
            bank.no_unit_line = True
        for b in take.many(3):
            b.total_row = True
        self.first_loans_reported: dict[tuple[str, dt.date], int] = {}
        self.bad_id_banks = {idx: {b.unit.id for b in rng_m.sample(self.banks, min(3, len(self.banks)))}
                             for idx in range(n)}
        # the no-loan lists (one per county), grown a little every cycle
        self.noloan: dict[str, list[tuple[_Party, float, str]]] = {}
        self.noloan_added: dict[str, dict[int, int]] = {}
        for county in self.counties:
            lrng = self.rng("noloan-base", county)
            candidates = [p for p in self.by_county[county] if not p.history and p.type in ("小微企业", "个体工商户")]
            lrng.shuffle(candidates)
            base = lrng.randint(80, min(300, max(80, len(candidates) - 60)))
            chosen = candidates[:base]
            extra = candidates[base:base + 40]
            entries = [(p, self._need(lrng, p), self._push_bank(lrng, p)) for p in chosen + extra]
            self.noloan[county] = entries
            added = {0: base}
            total = base
            for idx in range(1, n):
                total = min(len(entries), total + lrng.randint(0, 8))
                added[idx] = total
            self.noloan_added[county] = added
        # Each county sends its (growing) list every cycle, except that one county's first list arrives a cycle
        # late and another county skips one cycle.
        self.noloan_sends: dict[str, set[int]] = {}
        county_units = list(self.expected_units("noloan"))
        srng = self.rng("noloan-sends")
        others = [u for u in county_units if not self._embeds_noloan(u)]
        odd_units = srng.sample(others, min(2, len(others))) if n > 1 else []
        for u in county_units:
            sends = set(range(n))
            if odd_units and u is odd_units[0]:
                sends.discard(0)
                self.note(self.dates[0], None, u, "missing_ledger", "首期未报送无贷户名单，下期才报来")
            if len(odd_units) > 1 and u is odd_units[1] and n > 3:
                sends.discard(3)
                self.note(self.dates[3], None, u, "missing_ledger", "本期未报送无贷户名单")
            self.noloan_sends[u.id] = sends
        odd = srng.sample(county_units, min(2, len(county_units))) if county_units else []
        self.noloan_odd = tuple(u.id for u in odd) + ("", "")

    def _party(self, rng: random.Random, kind: str, county: str, area: str, used_names: set[str],
               used_ids: set[str]) -> _Party:
        industry, co_suffixes, ind_suffixes, gtype = rng.choice(_INDUSTRIES)
        for _ in range(200):
            brand = rng.choice(_BRAND_A) + rng.choice(_BRAND_B)
            if kind == "小微企业":
                place = rng.choice((self.city, self.city, county))
                name = f"{place}{brand}{rng.choice(co_suffixes)}"
                reg = "93" if "合作社" in name else "91"
                ident = make_uscc(reg + area + "".join(rng.choice(USCC_ALPHABET) for _ in range(9)))
            elif kind == "个体工商户":
                name = f"{county}{brand}{rng.choice(ind_suffixes)}"
                ident = make_uscc("92" + area + "".join(rng.choice(USCC_ALPHABET) for _ in range(9)))
            else:
                name = _person_name(rng)
                birth = dt.date(rng.randint(1962, 1998), rng.randint(1, 12), rng.randint(1, 28))
                ident = make_resident_id(area, birth, rng.randint(0, 999))
                gtype = "三农" if kind == "农户" else gtype
                industry = "农、林、牧、渔业" if kind == "农户" else industry
                if ident not in used_ids:
                    break
                continue
            if name not in used_names and ident not in used_ids:
                break
        used_names.add(name)
        used_ids.add(ident)
        history = rng.random() < (0.55 if kind in ("小微企业", "小微企业主") else 0.45)
        return _Party(name, ident, kind, county, industry, gtype, history)

    def _need(self, rng: random.Random, p: _Party) -> float:
        if p.type == "小微企业":
            return float(rng.choice((50, 80, 100, 150, 200, 300, 500)))
        return float(rng.choice((5, 10, 20, 30, 50)))

    def _push_bank(self, rng: random.Random, p: _Party) -> str:
        if not self.banks:
            return ""
        local = [b for b in self.banks if b.unit.county == p.county]
        if local and rng.random() < 0.5:
            return local[0].unit.id
        citywide = [b for b in self.banks if b.unit.county in (None, p.county)] or self.banks
        return rng.choice(citywide).unit.id

    def _bank(self, u: Unit) -> _Bank:
        rng = self.rng("bank", u.id)
        category = u.category or ""
        size = {"国有大型银行": (1.2e6, 3.6e6), "股份制银行": (2.0e5, 7.0e5), "城市商业银行": (4.0e5, 1.3e6)}.get(
            category, (1.5e5, 6.0e5))
        size0 = round(rng.uniform(*size), -2)
        if u.county and u.county == (self.counties[0] if self.counties else None):
            size0 *= 2.5
        plans = {bp.get("indicator"): bp.get("annual") for bp in self.plan.bank_plans if bp.get("bank") == u.id}
        sme0 = round(size0 * rng.uniform(0.07, 0.16), -1)
        increase = float(plans.get("inclusive_sme_loan_balance_increase") or sme0 * rng.uniform(0.25, 0.4))
        big = category == "国有大型银行"
        yoy = rng.uniform(0.2, 0.45) if big else rng.uniform(0.3, 0.55)
        per_cycle = {"国有大型银行": (45, 110), "股份制银行": (20, 40), "城市商业银行": (30, 60)}.get(category, (25, 55))
        return _Bank(
            unit=u, size=size0, total_growth=rng.uniform(0.04, 0.12), credit_share0=rng.uniform(0.08, 0.22),
            credit_drift=rng.choice((rng.uniform(0.004, 0.03), rng.uniform(0.004, 0.03), -rng.uniform(0.001, 0.006))),
            sme0=sme0, sme_increase=increase * rng.choice((0.6, 0.75, 0.9, 1.0, 1.1, 1.25)), yoy=yoy,
            renewal_share=rng.uniform(0.005, 0.02),
            long_share=rng.uniform(0.2, 0.4), bp=rng.randint(30, 80),
            amount_unit=rng.choice(("万元", "万元h", "万元h")),
            date_style=rng.choice(("cell", "cell", "iso", "slash", "dot", "cjk", "int", "mixed")),
            rate_text=rng.random() < 0.3, bool_style=rng.choice(("是否", "是否", "是否", "YN", "√")),
            has_applications=rng.random() < (0.75 if category in ("国有大型银行", "地方法人银行") else 0.35),
            total_row=False, loans_per_cycle=per_cycle,
        )

    def bank_figures(self, b: _Bank, cycle: dt.date) -> dict[str, float]:
        """The bank's 主要指标 at a report date, in 万元 (balances) and counts."""
        rng = self.rng("bank-figures", b.unit.id, cycle)
        t = elapsed_share(cycle)
        total = b.size * (1 + b.total_growth * t) * rng.uniform(0.998, 1.002)
        credit_share = b.credit_share0 + b.credit_drift * t * 2
        credit = total * credit_share
        sme = b.sme0 + b.sme_increase * t * rng.uniform(0.97, 1.03)
        yoy = b.yoy + 0.03 * (t - 0.35)
        return {
            "total_loans": round(total, 2),
            "credit_loans": round(credit, 2),
            "credit_households": int(credit / rng.uniform(90, 110) / 3),
            "sme_loans": round(sme, 2),
            "sme_households": int(sme / 85),
            "sme_loans_last_year": round(sme / (1 + yoy), 2),
            "sme_loans_year_start": round(b.sme0, 2),
            "first_loan_households_reported": self.first_loans_reported.get((b.unit.id, cycle), 0),
            "renewal_balance": round(b.size * b.renewal_share * (1 + 0.4 * t), 2),
            "sme_long_term_loans": round(sme * b.long_share, 2),
            "transfer_pricing_bp": b.bp,
            "credit_loans_year_start": round(b.size * b.credit_share0, 2),
            "total_loans_year_start": round(b.size, 2),
        }

    # =============================================================================================================
    # No-loan lists

    def noloan_lists(self) -> None:
        units = self.expected_units("noloan")
        for u in units:
            if self._embeds_noloan(u):
                self.note(self.names[0], None, u, "noloan_in_task_workbook",
                          "无贷户名单作为一个工作表放在任务进展台账里（报送名单的各期）")
                continue
            srng = self.rng("noloan-style", u.id)
            alias = _file_alias(u, srng)
            pattern = srng.randrange(3)
            for idx, cycle in enumerate(self.dates):
                if idx not in self.noloan_sends.get(u.id, ()):
                    continue
                filled = cycle - dt.timedelta(days=self.rng("noloan-date", u.id, cycle).randint(0, 3))
                sheet = self.noloan_sheet(u, cycle, filled)
                created, modified = self.stamps(cycle, filled)
                data = _workbook_bytes([sheet], created, modified, "Administrator")
                mmdd = cycle.strftime("%m%d")
                name = (f"{alias}无贷户名单（{mmdd}）", f"{alias}小微企业和个体工商户无贷户名单{cycle.month}.{cycle.day}",
                        f"附件1 无贷户名单-{alias}")[pattern]
                self.add_file(cycle, name, data, u, ("noloan",))

    def noloan_sheet(self, u: Unit, cycle: dt.date, filled: dt.date, embedded: bool = False) -> _Sheet:
        county = u.county or u.name
        idx = self.dates.index(cycle)
        entries = self.noloan.get(county, [])[: self.noloan_added.get(county, {}).get(idx, 0)]
        rng = self.rng("noloan", u.id, cycle)
        cols = [c.headers[0] for c in NOLOAN_LIST.columns]
        sheet = _Sheet("无贷户名单")
        sheet.rows.append([f"{county}小微企业及个体工商户无贷户名单"])
        sheet.merges.append((1, 1, 1, len(cols) + 1))
        sheet.bold_rows.add(1)
        if not embedded:
            sheet.rows.append([f"填报单位：{_file_alias(u, self.rng('noloan-label', u.id))}", None, None,
                               f"填报日期：{_date_text(filled, 'cjk')}"])
        sheet.rows.append(["序号", *cols])
        sheet.header_row = len(sheet.rows)
        sheet.bold_rows.add(sheet.header_row)
        first = idx == min(self.noloan_sends.get(u.id, {0}))
        bad = rng.randrange(len(entries)) if entries and first and u.id == self.noloan_odd[0] else None
        for i, (p, need, bank_id) in enumerate(entries):
            ident: Any = p.id
            if i == bad:
                ident = p.id[:17] + ("0" if p.id[17] != "0" else "1")
            ptype = p.type if p.type != "个体工商户" or rng.random() < 0.8 else "个体户"
            bank = _short_name(self.plan.unit(bank_id)) if bank_id else None
            sheet.rows.append([i + 1, p.name, ident, ptype, county, p.industry, need, bank])
        if entries and first and u.id == self.noloan_odd[1]:
            p, need, bank_id = entries[len(entries) // 3]
            sheet.rows.append([len(entries) + 1, p.name, p.id, p.type, county, p.industry, need,
                               _short_name(self.plan.unit(bank_id)) if bank_id else None])
            self.note(cycle, None, u, "noloan_duplicate_row", f"无贷户名单中「{p.name}」重复列了两次")
        if bad is not None:
            self.note(cycle, None, u, "bad_identifier", f"无贷户名单第 {bad + 1} 户的证件号码校验位错误")
        sheet.widths = {1: 6, 2: 32, 3: 22, 4: 12, 5: 10, 6: 26, 7: 14, 8: 16}
        return sheet

    # =============================================================================================================
    # Lending ledgers

    def lending_ledgers(self) -> None:
        if not self.banks:
            return
        n = len(self.dates)
        borrowed: set[str] = set()           # borrowers with a loan in an earlier generated cycle
        pending: dict[str, list[dict]] = {b.unit.id: [] for b in self.banks}
        applied: set[str] = set()
        converted: set[str] = set()
        listed = {p.id: (p, bank) for entries in self.noloan.values() for p, _, bank in entries}
        pbc = next((u for u in self.plan.units_of(kind="regulator") if "人民银行" in u.name), None)
        pbc_idx = min(2, n - 1)
        regulars = {b.unit.id: [p for p in self.parties if p.home_bank == b.unit.id] for b in self.banks}
        fresh = [p for p in self.parties if not p.history and p.id not in listed]
        newcomers = {b.unit.id: [p for p in fresh if b.unit.county is None or p.county == b.unit.county] or fresh
                     for b in self.banks}
        first_loans = _FirstLoans()
        for idx, cycle in enumerate(self.dates):
            prev = previous_cycle(cycle, self.plan.report_days)
            crng = self.rng("loans-cycle", cycle)
            used_now: set[str] = set()
            loans_by_bank: dict[str, list[dict]] = {}
            apps_by_bank: dict[str, list[dict]] = {}
            listed_now = {p.id for county in self.counties
                          for p, _, _ in self.noloan[county][: self.noloan_added[county].get(idx, 0)]}
            for b in self.banks:
                brng = self.rng("loans", b.unit.id, cycle)
                loans: list[dict] = []
                # applications: earlier ones still pending, then new ones from listed households pushed here
                apps: list[dict] = list(pending[b.unit.id])
                pending[b.unit.id] = []
                if b.has_applications:
                    mine = [pid for pid in sorted(listed_now) if listed[pid][1] == b.unit.id and pid not in applied]
                    brng.shuffle(mine)
                    for pid in mine[: brng.randint(3, 10)]:
                        applied.add(pid)
                        day = prev + dt.timedelta(days=brng.randint(1, (cycle - prev).days))
                        wait = brng.randint(1, 5) if brng.random() < 0.94 else brng.randint(6, 10)
                        apps.append({"party": listed[pid][0], "applied": day, "reply": _add_workdays(day, wait),
                                     "result": "授信" if brng.random() < 0.75 else "拒绝"})
                for app in apps:
                    if app["reply"] > cycle:
                        pending[b.unit.id].append(app)
                    elif app["result"] == "授信" and app["party"].id not in converted:
                        converted.add(app["party"].id)
                        day = min(cycle, app["reply"] + dt.timedelta(days=brng.randint(0, 2)))
                        loans.append(self._loan(brng, b, app["party"], max(day, prev + dt.timedelta(days=1)),
                                                first=True, conversion=True))
                        used_now.add(app["party"].id)
                apps_by_bank[b.unit.id] = apps
                # direct conversions of listed households (banks that keep no application sheet)
                if not b.has_applications:
                    mine = [pid for pid in sorted(listed_now) if listed[pid][1] == b.unit.id
                            and pid not in converted and pid not in applied]
                    brng.shuffle(mine)
                    for pid in mine[: brng.randint(1, 4)]:
                        converted.add(pid)
                        used_now.add(pid)
                        day = prev + dt.timedelta(days=brng.randint(1, (cycle - prev).days))
                        loans.append(self._loan(brng, b, listed[pid][0], day, first=True, conversion=True))
                # regular loans
                count = brng.randint(*b.loans_per_cycle)
                mine_regular, mine_new = regulars[b.unit.id], newcomers[b.unit.id]
                while len(loans) < count:
                    if brng.random() < 0.72 and mine_regular:
                        party = brng.choice(mine_regular)
                    elif mine_new:
                        party = brng.choice(mine_new)
                    else:
                        party = brng.choice(self.parties)
                    if party.id in used_now:
                        continue
                    used_now.add(party.id)
                    is_new = not party.history and party.id not in borrowed
                    renewal = not is_new and brng.random() < 0.06
                    first = is_new and brng.random() < 0.9
                    day = prev + dt.timedelta(days=brng.randint(1, (cycle - prev).days))
                    loans.append(self._loan(brng, b, party, day, first=first, renewal=renewal))
                loans.sort(key=lambda l: (l["date"], l["party"].name))
                loans_by_bank[b.unit.id] = loans
            self._lending_mess(idx, cycle, prev, crng, loans_by_bank, borrowed, used_now)
            written = [b for b in self.banks if self.bank_missing.get(b.unit.id) != idx]
            for b in written:
                self._written_ids(b, cycle, idx, loans_by_bank[b.unit.id])
            first_loans.add_cycle([(b, loans_by_bank[b.unit.id]) for b in written])
            self._report_first_loans(idx, cycle, first_loans)
            for loans in loans_by_bank.values():
                borrowed.update(loan["party"].id for loan in loans)
            # write one workbook per bank
            for b in self.banks:
                if self.bank_missing.get(b.unit.id) == idx:
                    self.note(cycle, None, b.unit, "missing_ledger", "本期未报送信贷数据台账")
                    continue
                self.write_lending_book(b, cycle, idx, loans_by_bank[b.unit.id], apps_by_bank[b.unit.id])
            if pbc is not None and idx == pbc_idx:
                self.write_pbc_summary(pbc, cycle)

    def _written_ids(self, b: _Bank, cycle: dt.date, idx: int, loans: list[dict]) -> None:
        """Each loan's 证件号码 as the bank's ledger shows it (`written_id`): one corrupted for the banks with a bad
        identifier this cycle, and in the first cycle one resident ID of the first bank stored as a number."""
        rng = self.rng("loan-ids", b.unit.id, cycle)
        bad_rows: set[int] = set()
        number_row = None
        if loans and b.unit.id in self.bad_id_banks.get(idx, ()):
            bad_rows = {rng.randrange(len(loans))}
        if loans and idx == 0 and b is self.banks[0]:
            persons = [i for i, l in enumerate(loans) if l["party"].id.isdigit() and i not in bad_rows]
            number_row = persons[0] if persons else None
        for i, loan in enumerate(loans):
            ident: Any = loan["party"].id
            if i in bad_rows:
                ident = _corrupt_id(ident, rng)
            elif i == number_row:
                ident = int(ident)
            loan["written_id"] = ident

    def _report_first_loans(self, idx: int, cycle: dt.date, first_loans: _FirstLoans) -> None:
        """Each bank's 首贷户数（当年累计）: what its 贷款明细 so far give by the suite's rule, except one bank per cycle
        (after the first) that reports a few more (it counted renewals or borrowers with earlier loans)."""
        for b in self.banks:
            self.first_loans_reported[(b.unit.id, cycle)] = first_loans.per_bank.get(b.unit.id, 0)
        if idx == 0:
            return
        rng = self.rng("first-loans-misreport", cycle)
        candidates = [b for b in self.banks if self.bank_missing.get(b.unit.id) != idx]
        if candidates:
            bank = rng.choice(candidates)
            extra = rng.choice((2, 3, 5))
            self.first_loans_reported[(bank.unit.id, cycle)] += extra
            self.note(cycle, None, bank.unit, "first_loan_count_differs",
                      f"主要指标的首贷户数（当年累计）比贷款明细多报 {extra} 户")

    def _lending_mess(self, idx: int, cycle: dt.date, prev: dt.date, rng: random.Random,
                      loans_by_bank: dict[str, list[dict]], borrowed: set[str], used_now: set[str]) -> None:
        banks = [b for b in self.banks if self.bank_missing.get(b.unit.id) != idx]
        if len(banks) < 2:
            return
        # two banks both claim the same new borrower as a first loan
        if idx % 2 == 1:
            a, b = rng.sample(banks, 2)
            firsts = [l for l in loans_by_bank[a.unit.id] if l["first"] and not l.get("conversion")]
            if firsts:
                loan = rng.choice(firsts)
                day = prev + dt.timedelta(days=rng.randint(1, (cycle - prev).days))
                twin = self._loan(rng, b, loan["party"], day, first=True)
                loans_by_bank[b.unit.id].append(twin)
                self.note(cycle, None, b.unit, "first_loan_claimed_twice",
                          f"「{loan['party'].name}」同时被{_short_name(a.unit)}和{_short_name(b.unit)}报为首贷户")
        # borrowers with a loan in an earlier cycle flagged as first-loan households again
        if idx >= 1:
            earlier = sorted(pid for pid in borrowed if pid not in used_now)
            by_id = {p.id: p for p in self.parties}
            for pid in rng.sample(earlier, min(2, len(earlier))):
                bank = rng.choice(banks)
                day = prev + dt.timedelta(days=rng.randint(1, (cycle - prev).days))
                loans_by_bank[bank.unit.id].append(self._loan(rng, bank, by_id[pid], day, first=True))
                self.note(cycle, None, bank.unit, "first_loan_not_first",
                          f"「{by_id[pid].name}」此前已有贷款，本期又被报为首贷户")
        # a loan dated outside the cycle window
        bank = rng.choice(banks)
        if loans_by_bank[bank.unit.id]:
            loan = rng.choice(loans_by_bank[bank.unit.id])
            loan["date"] = prev - dt.timedelta(days=rng.randint(0, 3))
            loan["maturity"] = _add_months(loan["date"], loan["months"])
            self.note(cycle, None, bank.unit, "loan_outside_window",
                      f"「{loan['party'].name}」的发放日期 {loan['date'].isoformat()} 不在本期（{prev.isoformat()} 之后）")
        for loans in loans_by_bank.values():
            loans.sort(key=lambda l: (l["date"], l["party"].name))

    def _loan(self, rng: random.Random, b: _Bank, party: _Party, day: dt.date, *, first: bool,
              renewal: bool = False, conversion: bool = False) -> dict:
        amount = {
            "小微企业": rng.choice((50, 80, 100, 150, 200, 300, 500, 800, 1000)),
            "个体工商户": rng.choice((5, 10, 20, 30, 50, 80, 100)),
            "小微企业主": rng.choice((10, 20, 30, 50)),
            "农户": rng.choice((1, 2, 3, 5, 8, 10, 20)),
        }[party.type] * rng.choice((1.0, 1.0, 0.8, 0.5, 1.2))
        months = rng.choice((6, 12, 12, 12, 24, 36))
        method = rng.choices(("信用", "保证", "抵押", "质押", "组合"), (30, 30, 25, 5, 10))[0]
        if conversion:
            method = rng.choice(("信用", "信用", "保证"))
        rate = round(rng.uniform(3.65, 6.2), 2) if b.unit.category != "地方法人银行" else round(rng.uniform(4.5, 7.8), 2)
        return {"party": party, "date": day, "maturity": _add_months(day, months), "months": months,
                "amount": round(amount, 2), "line": round(amount * rng.choice((1.0, 1.0, 1.5, 2.0)), 2),
                "method": method, "first": first, "renewal": renewal, "rate": rate, "conversion": conversion}

    def _amount_header(self, header: str, b: _Bank) -> tuple[str, float]:
        """The header as this bank writes it, and the factor from 万元 to the bank's unit."""
        if b.amount_unit == "亿元":
            return f"{header}（亿元）", 1e-4
        if b.amount_unit == "元":
            return f"{header}（元）", 1e4
        if b.amount_unit == "sheet亿元":
            return header, 1e-4
        if b.amount_unit == "万元h":
            return f"{header}（万元）", 1.0
        return header, 1.0

    def _summary_rows(self, banks: list[_Bank], cycle: dt.date, unit_of: _Bank | None) -> tuple[list, list]:
        cols = BANK_SUMMARY.columns
        factor_bank = unit_of
        header = []
        factors = []
        for col in cols:
            if col.kind == "amount" and factor_bank is not None:
                text, factor = self._amount_header(col.headers[0], factor_bank)
            else:
                text, factor = col.headers[0], 1.0
            header.append(text)
            factors.append(factor)
        rows = []
        for b in banks:
            figures = self.bank_figures(b, cycle)
            row = []
            for col, factor in zip(cols, factors):
                if col.role == "bank":
                    row.append(b.unit.name if unit_of is not None else _short_name(b.unit))
                    continue
                value = figures[col.role]
                if col.kind == "amount":
                    value = round(value * factor, 4 if factor < 1 else 2)
                row.append(value)
            rows.append(row)
        return header, rows

    def write_lending_book(self, b: _Bank, cycle: dt.date, idx: int, loans: list[dict], apps: list[dict]) -> None:
        rng = self.rng("lending-book", b.unit.id, cycle)
        srng = self.rng("lending-style", b.unit.id)
        alias = _file_alias(b.unit, srng)
        label = srng.choice(b.unit.names)
        filled = cycle - dt.timedelta(days=rng.choice((0, 0, 1, 2)))
        if rng.random() < 0.08:
            filled = cycle + dt.timedelta(days=rng.randint(1, 3))
        meta = [] if b.no_unit_line else [[f"填报单位：{label}", None, None, f"填报日期：{_date_text(filled, 'cjk')}"]]
        unit_line = [["金额单位：亿元"]] if b.amount_unit == "sheet亿元" else (
            [["单位：万元"]] if b.amount_unit == "万元" and srng.random() < 0.5 else [])

        # 主要指标
        header, rows = self._summary_rows([b], cycle, b)
        summary = _Sheet("主要指标")
        owner = "" if b.no_unit_line else b.unit.name
        summary.rows.append([f"{owner}信贷数据台账（{cycle.year}年{cycle.month}月{cycle.day}日）"])
        summary.merges.append((1, 1, 1, 6))
        summary.bold_rows.add(1)
        summary.rows.extend(meta + unit_line)
        summary.rows.append(header)
        summary.header_row = len(summary.rows)
        summary.bold_rows.add(summary.header_row)
        summary.rows.extend(rows)
        summary.widths = {i + 1: 16 for i in range(len(header))}
        summary.widths[1] = 26

        # 贷款明细
        cols = LOANS.columns
        head = []
        factors = []
        for col in cols:
            if col.kind == "amount":
                text, factor = self._amount_header(col.headers[0], b)
            else:
                text, factor = col.headers[0], 1.0
            head.append(text)
            factors.append(factor)
        detail = _Sheet("贷款明细")
        detail.rows.append([f"{owner}贷款发放明细（{previous_cycle(cycle, self.plan.report_days):%m.%d}—{cycle:%m.%d}）"])
        detail.bold_rows.add(1)
        detail.rows.extend(unit_line)
        detail.rows.append(["序号", *head])
        detail.header_row = len(detail.rows)
        detail.bold_rows.add(detail.header_row)
        yes, no = {"是否": ("是", "否"), "YN": ("Y", "N"), "√": ("√", "×")}[b.bool_style]
        for i, loan in enumerate(loans):
            p = loan["party"]
            ident = loan["written_id"]
            if isinstance(ident, int):
                self.note(cycle, None, b.unit, "id_as_number",
                          f"贷款明细第 {i + 1} 笔的身份证号码存成了数字（Excel 中会丢失末几位）")
            elif ident != p.id:
                self.note(cycle, None, b.unit, "bad_identifier", f"贷款明细第 {i + 1} 笔的证件号码有误")
            btype = p.type
            if btype == "个体工商户" and rng.random() < 0.15:
                btype = "个体户"
            method = loan["method"]
            if method == "信用" and rng.random() < 0.15:
                method = "纯信用"
            if method == "组合" and rng.random() < 0.5:
                method = "抵押+保证"
            style = b.date_style if b.date_style != "mixed" else rng.choice(("cell", "iso", "slash", "cjk"))
            rate: Any = loan["rate"]
            if b.rate_text:
                rate = f"{loan['rate']}%"
            values = {
                "borrower": p.name, "borrower_id": ident, "borrower_type": btype, "county": p.county,
                "loan_date": _date_text(loan["date"], style), "maturity_date": _date_text(loan["maturity"], style),
                "amount": loan["amount"], "credit_line": loan["line"], "guarantee_method": method,
                "is_first_loan": yes if loan["first"] else no, "is_renewal": yes if loan["renewal"] else no,
                "interest_rate": rate,
            }
            row = [i + 1]
            for col, factor in zip(cols, factors):
                value = values[col.role]
                if col.kind == "amount":
                    value = round(value * factor, 6 if factor < 1 else 2)
                row.append(value)
            detail.rows.append(row)
        if b.total_row and loans:
            total = sum(l["amount"] for l in loans)
            amount_at = [c.role for c in cols].index("amount") + 1
            row: list[Any] = ["合计"] + [None] * len(cols)
            row[amount_at] = round(total * factors[amount_at - 1], 6 if factors[amount_at - 1] < 1 else 2)
            detail.rows.append(row)
            if idx == 0:
                self.note(cycle, None, b.unit, "total_row", "贷款明细末尾有“合计”行（各期）")
        detail.widths = {1: 6, 2: 32, 3: 22, 4: 12, 5: 10, 6: 14, 7: 14, 8: 12, 9: 14, 10: 10, 11: 10, 12: 12, 13: 12}
        sheets = [summary, detail]

        # 首贷申请
        if b.has_applications and apps:
            sheet = _Sheet("首贷申请")
            sheet.rows.append([f"{owner}无贷户授信申请及回复情况"])
            sheet.bold_rows.add(1)
            sheet.rows.append([c.headers[0] for c in APPLICATIONS.columns])
            sheet.header_row = 2
            sheet.bold_rows.add(2)
            pending_count = 0
            for app in sorted(apps, key=lambda a: (a["applied"], a["party"].name)):
                replied = app["reply"] <= cycle
                style = "cell" if b.date_style in ("mixed", "int") else b.date_style
                sheet.rows.append([
                    app["party"].name, app["party"].id, _date_text(app["applied"], style),
                    _date_text(app["reply"], style) if replied else None,
                    app["result"] if replied else "办理中",
                ])
                if not replied:
                    pending_count += 1
                elif _add_workdays(app["applied"], 5) < app["reply"]:
                    self.note(cycle, None, b.unit, "reply_late",
                              f"「{app['party'].name}」{app['applied'].isoformat()} 的申请超过 5 个工作日才回复"
                              f"（{app['reply'].isoformat()}）")
            if pending_count:
                self.note(cycle, None, b.unit, "application_pending",
                          f"{pending_count} 笔申请本期仍在办理中（无回复日期），下期连同回复再次列出")
            sheet.widths = {1: 32, 2: 22, 3: 14, 4: 14, 5: 10}
            sheets.append(sheet)

        created, modified = self.stamps(cycle, filled)
        data = _workbook_bytes(sheets, created, modified, "Administrator")
        m, d, mmdd = cycle.month, cycle.day, cycle.strftime("%m%d")
        if b.no_unit_line and idx == min(2, len(self.dates) - 1):
            name = f"信贷数据台账{mmdd}"
        else:
            name = (f"{alias}{m}.{d}台账(1)", f"{alias}信贷数据台账（{mmdd}）", f"{alias}-主要指标及贷款明细-{mmdd}",
                    f"{alias}{m}月{d}日信贷数据")[srng.randrange(4)]
        rel = self.add_file(cycle, name, data, b.unit, ("lending",))
        if b.no_unit_line and idx == min(2, len(self.dates) - 1):
            self.note(cycle, rel, b.unit, "unit_from_content", "文件名和表头上方都没有单位名称，只能从“机构名称”列识别银行")
        if filled > cycle:
            self.note(cycle, rel, b.unit, "late_report", f"填报日期 {filled.isoformat()} 晚于报送日")
        if idx == 0 and b.amount_unit in ("亿元", "元", "sheet亿元"):
            what = {"亿元": "表头注明（亿元）", "元": "表头注明（元）", "sheet亿元": "表上方注明“金额单位：亿元”"}[b.amount_unit]
            self.note(cycle, None, b.unit, "amount_unit", f"金额不以万元填报：{what}（各期）")

    def write_pbc_summary(self, pbc: Unit, cycle: dt.date) -> None:
        banks = [b for b in self.banks]
        header, rows = self._summary_rows(banks, cycle, None)
        sheet = _Sheet("主要指标")
        sheet.rows.append([f"{self.city}银行业金融机构信贷数据汇总表（{cycle.year}年{cycle.month}月{cycle.day}日）"])
        sheet.bold_rows.add(1)
        sheet.rows.append([f"填报单位：{_short_name(pbc)}", None, None, f"填报日期：{_date_text(cycle, 'cjk')}", None,
                           "单位：万元"])
        sheet.rows.append(header)
        sheet.header_row = 3
        sheet.bold_rows.add(3)
        sheet.rows.extend(rows)
        total = ["合计"] + [
            round(sum(r[i] for r in rows), 2) if all(isinstance(r[i], (int, float)) for r in rows) else None
            for i in range(1, len(header))
        ]
        sheet.rows.append(total)
        sheet.widths = {i + 1: 16 for i in range(len(header))}
        created, modified = self.stamps(cycle, cycle)
        data = _workbook_bytes([sheet], created, modified, "Administrator")
        rel = self.add_file(cycle, f"{_short_name(pbc)}-各银行机构信贷数据汇总{cycle:%m%d}", data, pbc, ("lending",))
        self.note(cycle, rel, pbc, "regulator_summary", "人民银行报来一份各银行主要指标汇总表（每行一家银行，末尾有合计行），与各行自报数据一致")

    # =============================================================================================================
    # Guarantee ledgers

    def guarantee_ledgers(self) -> None:
        units = self.expected_units("guarantee")
        if not units:
            return
        bank_aliases = [_short_name(b) for b in self.plan.banks] or ["合作银行"]
        for ui, u in enumerate(units):
            rng = self.rng("guarantee", u.id)
            scale = 1.0 if ui == 0 else 0.3
            first = self.dates[0]
            year_start = dt.date(first.year, 1, 1)
            book: list[dict] = []
            pool = [p for p in self.parties if p.type in ("小微企业", "个体工商户", "农户")]
            rng.shuffle(pool)
            pool_iter = iter(pool)
            for _ in range(int(430 * scale)):
                start = first - dt.timedelta(days=rng.randint(10, 900))
                book.append(_guarantee(rng, next(pool_iter), start, bank_aliases))
            capital0, capital1 = (30000.0, 50000.0) if ui == 0 else (10000.0, 10000.0)
            raise_idx = min(3, len(self.dates) - 1)
            alias = _file_alias(u, rng)
            for idx, cycle in enumerate(self.dates):
                prev = previous_cycle(cycle, self.plan.report_days)
                crng = self.rng("guarantee", u.id, cycle)
                for _ in range(int(crng.randint(10, 28) * scale)):
                    start = prev + dt.timedelta(days=crng.randint(1, (cycle - prev).days))
                    book.append(_guarantee(rng, next(pool_iter), start, bank_aliases))
                in_force = [g for g in book if g["start"] <= cycle < g["end"]]
                released = [g for g in book if year_start <= g["end"] <= cycle]
                capital = capital1 if idx >= raise_idx and len(self.dates) > 1 else capital0
                net = capital + 2600 * (capital0 / 30000) + 85 * idx
                summary = _Sheet("机构概况")
                summary.rows.append([f"{u.name}担保业务台账（{cycle.year}年{cycle.month}月{cycle.day}日）"])
                summary.bold_rows.add(1)
                summary.rows.append([f"填报单位：{u.name}", None, None, f"填报日期：{_date_text(cycle, 'dot')}",
                                     None, "单位：万元"])
                summary.rows.append([c.headers[0] for c in GUARANTEE_SUMMARY.columns])
                summary.header_row = 3
                summary.bold_rows.add(3)
                summary.rows.append([
                    u.name, capital, round(net, 2), round(sum(g["amount"] for g in in_force)),
                    len({g["party"].id for g in in_force}),
                    round(sum(g["amount"] for g in book if year_start <= g["start"] <= cycle), 2),
                    round(sum(g["amount"] for g in released if g["compensated"]) * 0.6, 2),
                    round(sum(g["amount"] for g in released), 2),
                ])
                summary.widths = {i + 1: 16 for i in range(8)}
                summary.widths[1] = 28
                detail = _Sheet("担保明细")
                detail.rows.append([f"{u.name}在保业务明细"])
                detail.bold_rows.add(1)
                detail.rows.append(["序号", *[c.headers[0] for c in GUARANTEES.columns]])
                detail.header_row = 2
                detail.bold_rows.add(2)
                for i, g in enumerate(sorted(in_force, key=lambda g: (g["start"], g["party"].name))):
                    share: Any = g["share"] if (i % 7) else f"{g['share']}%"
                    detail.rows.append([i + 1, g["party"].name, g["party"].id, g["type"], g["amount"], g["fee"],
                                        g["bank"], g["start"], g["end"], share])
                detail.widths = {1: 6, 2: 32, 3: 22, 4: 14, 5: 12, 6: 12, 7: 14, 8: 12, 9: 12, 10: 12}
                created, modified = self.stamps(cycle, cycle)
                data = _workbook_bytes([summary, detail], created, modified, "Administrator")
                rel = self.add_file(cycle, f"{alias}担保业务台账{cycle:%m%d}", data, u, ("guarantee",))
                if ui == 0 and idx == raise_idx and capital1 != capital0:
                    self.note(cycle, rel, u, "capital_increase",
                              f"注册资本由 {capital0:.0f} 万元增至 {capital1:.0f} 万元（增资）")


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


class _Taker:
    """Hands out distinct items from a shuffled pool, so each deliberate oddity lands on a different unit."""

    def __init__(self, pool: list):
        self.pool = list(pool)

    def one(self, accept=None):
        for i, item in enumerate(self.pool):
            if accept is None or accept(item):
                return self.pool.pop(i)
        return None

    def many(self, count: int) -> list:
        out = []
        for _ in range(count):
            item = self.one()
            if item is None:
                break
            out.append(item)
        return out


def _guarantee(rng: random.Random, p: _Party, start: dt.date, banks: list[str]) -> dict:
    """One guarantee for party `p` starting on `start`: amount (万元), fee rate and risk share (%), partner bank."""
    gtype = p.gtype if p.type == "小微企业" else ("个体工商户" if p.type == "个体工商户" else "三农")
    low, high = {"小微企业": (100, 1500), "战略性新兴产业": (300, 2000), "其他": (200, 3000),
                 "个体工商户": (10, 100), "三农": (10, 300)}[gtype]
    amount = round(rng.uniform(low, high) / 10) * 10
    months = rng.choice((12, 12, 12, 24, 36))
    return {"party": p, "type": gtype, "amount": float(amount),
            "fee": rng.choice((0.5, 0.8, 1.0, 1.0, 1.2, 1.5, 1.5, 2.0, 2.5)),
            "bank": rng.choice(banks), "start": start, "end": _add_months(start, months),
            "share": rng.choice((0, 10, 20, 20, 20, 30, 40)), "compensated": rng.random() < 0.03}


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


def _corrupt_id(ident: str, rng: random.Random) -> Any:
    kind = rng.randrange(3)
    if kind == 0:   # wrong check character
        options = [c for c in "0123456789X" if c != ident[17]]
        return ident[:17] + rng.choice(options)
    if kind == 1:   # a digit dropped
        return ident[:10] + ident[11:]
    return ident[:8] + "O" + ident[9:] if not ident.isdigit() else ident[:17] + ("0" if ident[17] != "0" else "1")


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    return dt.date(year, month, 28)


def _add_workdays(day: dt.date, count: int) -> dt.date:
    """Working days by the official calendar when it covers the year, else Monday to Friday."""
    try:
        return add_workdays(day, count)
    except (CalendarUnavailable, ImportError):
        out, found = day, 0
        while found < count:
            out += dt.timedelta(days=1)
            if out.weekday() < 5:
                found += 1
        return out
