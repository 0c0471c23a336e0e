"""Deterministic stress ledgers for the benchmark, in the real formats, cached under `bench/data/`.

A year of twelve cycles of the Datong 2022 plan (2022-01-10 … 2022-06-25). The current cycle (2022-06-25) is the
stress cycle: 60 task-progress ledgers (the 45 responsible units, 15 of them sending a corrected second version),
25 lending ledgers (19 banks, 人行's consolidated 主要指标, 5 corrected resends) whose 贷款明细 hold `loans` rows in
total, 10 county no-loan lists of 5,000 households and the guarantee company's ledger of 2,000 guarantees. The
eleven earlier cycles have realistic sizes: about 25,000 loans across the 19 banks, lists of 600–1,500 households,
1,000–1,900 guarantees. The layout is the one units use (title rows, 填报单位/填报日期 lines, merged 工作要求
cells, amount units in headers, a 合计 row, dates as date cells or text, a few bad identifiers), written by
`bench.xlsx` (openpyxl would take minutes for a 300,000-row sheet).

Everything is seeded from the generator version, the cycle and a topic; same parameters → byte-identical files.
Each cycle folder is cached as `bench/data/cycles/<cycle>-<key>/` (the key hashes the version, the parameters that
shape that cycle and the plan file), so the eleven earlier cycles are shared by every volume measured. A
scenario (`scenario(loans)`) is a folder of hard links to the cached cycles.

    .venv/bin/python bench/generate.py --loans 300000      # prints the scenario's raw folder
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(HERE))

from xlsx import Sheet, column_letters, write_workbook

from helpers.core.cycles import cycles_between, elapsed_share, previous_cycle
from helpers.ingest.formats import APPLICATIONS, BANK_SUMMARY, GUARANTEE_SUMMARY, GUARANTEES, LOANS, NOLOAN_LIST
from helpers.core.identifiers import USCC_ALPHABET, resident_check_char, uscc_check_char
from helpers.plan.model import Plan, Unit, load_plan

GEN_VERSION = 1
PLAN_FILE = REPO / "data/plan/datong-2022.yaml"
DATA = HERE / "data"
CURRENT = "2022-06-25"
MARKER = ".complete.json"

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宏海波鹏辉俊峰亮宇浩凯健琳晶雪梅燕玲丹慧瑞鑫鸿旭东晓晨"
_BRAND_A = "恒鑫瑞华永金佳宏顺嘉晋云北桑御龙泰德兴昌丰盛源达通诚信和祥福康宇博安平润弘旭锦鸿"
_BRAND_B = "泰源丰晟盛鼎禾达通诚阳冈岳干河腾德兴昌盛利发祥隆辉宏远鑫业成鹏程茂嘉瑞华安康顺"
_CO_SUFFIX = ("商贸有限公司", "贸易有限公司", "餐饮管理有限公司", "机械制造有限公司", "食品有限公司", "建材有限公司",
              "农牧专业合作社", "物流有限公司", "建筑工程有限公司", "信息技术有限公司", "文化传媒有限公司")
_IND_SUFFIX = ("便民超市", "百货商店", "五金门市部", "小吃店", "刀削面馆", "加工厂", "养殖场", "货运部", "汽修部", "理发店")
_INDUSTRIES = ("批发和零售业", "住宿和餐饮业", "制造业", "农、林、牧、渔业", "交通运输、仓储和邮政业", "建筑业",
               "居民服务、修理和其他服务业", "信息传输、软件和信息技术服务业")
_PROGRESS = (
    "本期新增{a}户、金额{b:,}万元，累计{c:,}户，各项工作按计划推进。",
    "已召开推进会{s}次，走访市场主体{a}户，协调解决问题{s}个；下一步将继续加大工作力度。",
    "累计对接融资需求{a}笔、{b:,}万元，已落地{c:,}万元。",
    "工作方案已印发，正在组织实施，本期完成{a}项具体事项。",
)


@dataclasses.dataclass(frozen=True)
class Spec:
    """What to generate. `loans` is the current cycle's 贷款明细 rows over all its lending ledgers."""

    loans: int = 300_000
    loans_earlier: int = 25_000
    progress_ledgers: int = 60
    bank_ledgers: int = 25
    noloan_current: int = 5_000
    noloan_earlier: tuple[int, int] = (600, 1_500)
    guarantees_current: int = 2_000
    guarantees_earlier: tuple[int, int] = (1_000, 1_900)
    first: str = "2022-01-10"
    current: str = CURRENT
    parties: int = 60_000            # borrowers with loans before this year

    def cycles(self, plan: Plan) -> list[str]:
        start, end = dt.date.fromisoformat(self.first), dt.date.fromisoformat(self.current)
        return [d.isoformat() for d in cycles_between(start, end, plan.report_days)]


# ---------------------------------------------------------------------------------------------------------------
# The world


@dataclasses.dataclass
class Party:
    name: str
    id: str
    type: str
    county: str
    industry: str


def _uscc(rng: random.Random, kind: str, area: str) -> str:
    body = kind + area + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def _resident(rng: random.Random, area: str) -> str:
    body = f"{area}{rng.randint(1962, 1998)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + resident_check_char(body)


def _party(rng: random.Random, counties: list[str]) -> Party:
    ci = rng.randrange(len(counties))
    county, area = counties[ci], f"1402{12 + ci:02d}"
    kind = rng.choices(("小微企业", "个体工商户", "小微企业主", "农户"), (35, 35, 12, 18))[0]
    brand = rng.choice(_BRAND_A) + rng.choice(_BRAND_B) + rng.choice(_BRAND_A)
    if kind == "小微企业":
        return Party(f"大同市{brand}{rng.choice(_CO_SUFFIX)}", _uscc(rng, "91", area), kind, county,
                     rng.choice(_INDUSTRIES))
    if kind == "个体工商户":
        return Party(f"{county}{brand}{rng.choice(_IND_SUFFIX)}", _uscc(rng, "92", area), kind, county,
                     rng.choice(_INDUSTRIES))
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return Party(name, _resident(rng, area), kind, county, "农、林、牧、渔业" if kind == "农户" else rng.choice(_INDUSTRIES))


def _rng(*parts: Any) -> random.Random:
    return random.Random("|".join(("taizhang-bench", str(GEN_VERSION), *map(str, parts))))


class World:
    """Market entities: `regular` borrowers with loans before this year, `fresh` ones whose first loan falls in
    cycle i (a group per cycle), and per county the households on the no-loan list."""

    def __init__(self, plan: Plan, spec: Spec):
        self.plan = plan
        self.spec = spec
        self.cycles = spec.cycles(plan)
        self.counties = [u.county for u in plan.units_of(kind="county")]
        rng = _rng("world")
        self.regular = [_party(rng, self.counties) for _ in range(spec.parties)]
        self.noloan = {c: [] for c in self.counties}
        nrng = _rng("noloan-world")
        while min(len(v) for v in self.noloan.values()) < max(spec.noloan_current, spec.noloan_earlier[1]):
            p = _party(nrng, self.counties)
            if p.type in ("小微企业", "个体工商户"):
                self.noloan[p.county].append(p)
        self._fresh: dict[int, list[Party]] = {}

    def fresh(self, idx: int, loans: int) -> list[Party]:
        """Borrowers whose first loan is in cycle `idx` (about 8% of its loans)."""
        if idx not in self._fresh:
            rng = _rng("fresh", self.cycles[idx], loans)
            self._fresh[idx] = [_party(rng, self.counties) for _ in range(max(20, loans * 8 // 100))]
        return self._fresh[idx]


# ---------------------------------------------------------------------------------------------------------------
# Layout helpers


def _cjk(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _date_cell(day: dt.date, style: str) -> Any:
    if style == "cell":
        return day
    if style == "iso":
        return day.isoformat()
    if style == "cjk":
        return _cjk(day)
    return f"{day.year}/{day.month}/{day.day}"


def _contact(rng: random.Random) -> str:
    return (rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(_GIVEN)
            + f"  电话：0352-{rng.randint(2000000, 7999999)}")


def _add_months(day: dt.date, months: int) -> dt.date:
    m = day.month - 1 + months
    y, m = day.year + m // 12, m % 12 + 1
    return dt.date(y, m, min(day.day, 28))


def _safe(name: str) -> str:
    return "".join("_" if ch in '\\/:*?"<>|' else ch for ch in name)


def _split(total: int, weights: list[float]) -> list[int]:
    """`total` split by `weights`, largest remainders first (deterministic, sums exactly)."""
    raw = [total * w / sum(weights) for w in weights]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))[: total - sum(out)]:
        out[i] += 1
    return out


# ---------------------------------------------------------------------------------------------------------------
# One cycle


class CycleWriter:
    def __init__(self, world: World, idx: int, folder: Path):
        self.w = world
        self.plan = world.plan
        self.spec = world.spec
        self.idx = idx
        self.name = world.cycles[idx]
        self.date = dt.date.fromisoformat(self.name)
        self.prev = previous_cycle(self.date, self.plan.report_days)
        self.current = self.name == self.spec.current
        self.folder = folder
        self.rows: dict[str, int] = {}     # table → data rows written

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def save(self, name: str, sheets: list[Sheet], title: str) -> None:
        write_workbook(self.folder / (_safe(name) + ".xlsx"), sheets, title=title)

    def run(self) -> dict:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.task_ledgers()
        self.lending_ledgers()
        self.noloan_lists()
        self.guarantee_ledgers()
        return {"cycle": self.name, "rows": self.rows, "files": len(list(self.folder.iterdir()))}

    # ----- task progress -----
    def task_ledgers(self) -> None:
        plan = self.plan
        units = list(plan.expected_units("task"))
        rng = _rng("task-cycle", self.name)
        missing = set() if self.current else {rng.choice(units).id}
        resends = 0
        if self.current:
            resends = max(0, self.spec.progress_ledgers - len(units))
        twice = {u.id for u in rng.sample(units, min(resends, len(units)))}
        for u in units:
            if u.id in missing:
                continue
            self.task_book(u, self.date - dt.timedelta(days=_rng("filled", u.id, self.name).choice((0, 0, 1, 2))), "")
            if u.id in twice:
                self.task_book(u, self.date + dt.timedelta(days=1), "（修改版）")

    def task_book(self, u: Unit, filled: dt.date, suffix: str) -> None:
        rng = _rng("task", u.id, self.name, suffix)
        style = _rng("task-style", u.id)
        label = style.choice((u.name, *u.aliases))
        date_style = style.choice(("cell", "cjk", "iso"))
        contact = _contact(style)
        sheets = []
        for lst in self.plan.lists:
            tasks = [t for t in lst.tasks if u.id in t.responsible]
            if not tasks:
                continue
            roles = list(lst.columns)
            sheet = Sheet(lst.name, widths=[{"text": 40, "progress": 50, "actions": 30}.get(r, 14) for r in roles],
                          freeze=4)
            sheet.append([f"{self.plan.title}抓落实{lst.name}（{label} {self.name}）"], bold=True)
            sheet.merge(1, 1, len(roles))
            if date_style == "cell":
                sheet.append(["填报单位：", label, None, None, "填报日期：", filled])
            else:
                sheet.append([f"填报单位：{label}", None, None, None, f"填报日期：{_date_cell(filled, date_style)}"])
            sheet.append([f"联系人：{contact}"])
            sheet.append([lst.columns[r] for r in roles], bold=True)
            runs: list[list[int]] = []          # [first row, last row] of consecutive tasks in one 工作要求
            last_group = None
            for t in tasks:
                status = rng.choices(("正常推进", "已完成", "滞后", "未启动"), (80, 12, 6, 2))[0]
                k = self.idx + 1
                text = rng.choice(_PROGRESS).format(a=rng.randint(3, 60) * k, b=rng.randint(100, 900) * k,
                                                    c=rng.randint(50, 500) * k, s=rng.randint(1, 6))
                same = bool(t.group) and t.group == last_group
                values = {"no": t.no, "group": None if same else t.group, "text": t.text,
                          "deadline": t.deadline, "actions": "1.制定工作方案；2.建立工作台账；3.按双周调度推进。",
                          "goal": "全年完成目标任务。", "progress": text + suffix, "status": status}
                row = sheet.append([values.get(r) for r in roles])
                if same:
                    runs[-1][1] = row
                else:
                    runs.append([row, row])
                last_group = t.group
            if "group" in roles:
                col = roles.index("group") + 1
                for first, last in runs:
                    if last > first:
                        sheet.merges.append(f"{column_letters(col)}{first}:{column_letters(col)}{last}")
            self.count("progress", len(tasks))
            sheets.append(sheet)
        alias = min((a for a in u.aliases if len(a) >= 3), key=len, default=u.name)
        self.save(f"{alias}{self.date.month}.{self.date.day}台账{suffix}", sheets, f"{u.name}任务进展台账")

    # ----- lending -----
    def banks(self) -> list[Unit]:
        return list(self.plan.expected_units("lending"))

    def lending_plan(self) -> list[tuple[Unit, str, int]]:
        """(bank, file-name suffix, 贷款明细 rows) of every lending ledger of the cycle but 人行's."""
        banks = self.banks()
        weight = {"国有大型银行": 3.0, "股份制银行": 1.0, "城市商业银行": 1.5}
        rng = _rng("lending-cycle", self.name)
        resent: list[Unit] = []
        if self.current:
            extra = max(0, self.spec.bank_ledgers - len(banks) - 1)
            resent = rng.sample(banks, min(extra, len(banks)))
        books = [(b, "") for b in banks] + [(b, "（修改版）") for b in resent]
        total = self.spec.loans if self.current else self.spec.loans_earlier
        counts = _split(total, [weight.get(b.category or "", 1.0) for b, _ in books])
        # a resend is a corrected copy of the bank's ledger: same loans, a few rows changed
        original = {b.id: n for (b, s), n in zip(books, counts) if not s}
        counts = [original[b.id] if s else n for (b, s), n in zip(books, counts)]
        # keep the cycle total exact after copying: the difference goes to the first bank that sent once
        once = next(i for i, (b, s) in enumerate(books) if not s and b not in resent)
        counts[once] += total - sum(counts)
        return [(b, s, n) for (b, s), n in zip(books, counts)]

    def lending_ledgers(self) -> None:
        for b, suffix, n in self.lending_plan():
            self.lending_book(b, n, suffix)
        if self.current:
            self.pbc_summary(self.banks())

    def book_name(self, b: Unit, suffix: str = "") -> str:
        alias = min((a for a in b.aliases if len(a) >= 3), key=len, default=b.name)
        return f"{alias}{self.date.month}.{self.date.day}信贷数据台账{suffix}"

    def figures(self, b: Unit) -> list[Any]:
        rng = _rng("figures", b.id)
        size = {"国有大型银行": 2.4e6, "股份制银行": 4.5e5, "城市商业银行": 8.5e5}.get(b.category or "", 3.5e5)
        size *= rng.uniform(0.7, 1.3)
        t = elapsed_share(self.date)
        sme0 = size * rng.uniform(0.07, 0.16)
        sme = sme0 * (1 + rng.uniform(0.2, 0.45) * t)
        credit0 = size * rng.uniform(0.08, 0.2)
        total = size * (1 + rng.uniform(0.04, 0.1) * t)
        credit = credit0 * (1 + rng.uniform(0.02, 0.3) * t)
        values = {
            "bank": b.name, "total_loans": round(total, 2), "credit_loans": round(credit, 2),
            "credit_households": int(credit / 300), "sme_loans": round(sme, 2), "sme_households": int(sme / 85),
            "sme_loans_last_year": round(sme / (1 + rng.uniform(0.2, 0.5)), 2), "sme_loans_year_start": round(sme0, 2),
            "first_loan_households_reported": int(rng.randint(120, 500) * t), "renewal_balance": round(size * 0.01, 2),
            "sme_long_term_loans": round(sme * 0.3, 2), "transfer_pricing_bp": rng.randint(30, 80),
            "credit_loans_year_start": round(credit0, 2), "total_loans_year_start": round(size, 2),
        }
        return [values[c.role] for c in BANK_SUMMARY.columns]

    def lending_book(self, b: Unit, n: int, suffix: str, name: str | None = None) -> None:
        style = _rng("lending-style", b.id)
        label = style.choice(b.names)
        date_style = style.choice(("cell", "cell", "cell", "iso", "cjk", "slash"))
        yuan = style.random() < 0.15                       # amounts in 元, said in the header
        total_row = style.random() < 0.2
        has_apps = style.random() < 0.5
        filled = self.date + dt.timedelta(days=1) if suffix else self.date - dt.timedelta(days=style.choice((0, 1)))
        meta = [f"填报单位：{label}", None, None, f"填报日期：{_cjk(filled)}"]
        summary = Sheet("主要指标", widths=[26] + [16] * 13, freeze=3)
        summary.append([f"{b.name}信贷数据台账（{self.date.year}年{self.date.month}月{self.date.day}日）"], bold=True)
        summary.merge(1, 1, 6)
        summary.append(meta)
        summary.append([c.headers[0] + ("（万元）" if c.kind == "amount" else "") for c in BANK_SUMMARY.columns],
                       bold=True)
        summary.append(self.figures(b))
        self.count("bank_summary", 1)

        heads = []
        for c in LOANS.columns:
            head = c.headers[0]
            if c.kind == "amount":
                head += "（元）" if yuan else "（万元）"
            heads.append(head)
        detail = Sheet("贷款明细", widths=[6, 32, 22, 12, 10, 12, 12, 14, 14, 10, 10, 10, 12], freeze=2)
        detail.append([f"{b.name}贷款发放明细（{self.prev:%m.%d}—{self.date:%m.%d}）"], bold=True)
        detail.append(["序号", *heads], bold=True)
        rng = _rng("loans", b.id, self.name, n)          # a resend has the same loans as the original …
        fix = _rng("loans-fix", b.id, self.name, suffix)   # … but a few corrected rows
        regular = self.w.regular
        fresh = self.w.fresh(self.idx, self.spec.loans if self.current else self.spec.loans_earlier)
        days = (self.date - self.prev).days
        factor = 1e4 if yuan else 1.0
        amount_sum = 0.0
        bad_every = 4_000
        for i in range(n):
            new = rng.random() < 0.08
            p = rng.choice(fresh) if new else rng.choice(regular)
            day = self.prev + dt.timedelta(days=rng.randint(1, days))
            months = rng.choice((6, 12, 12, 12, 24, 36))
            amount = {"小微企业": rng.choice((50, 80, 100, 150, 200, 300, 500)), "个体工商户": rng.choice((5, 10, 20, 30, 50)),
                      "小微企业主": rng.choice((10, 20, 30)), "农户": rng.choice((1, 2, 3, 5, 8, 10))}[p.type]
            amount = round(amount * rng.choice((1.0, 1.0, 0.8, 0.5, 1.2)), 2)
            method = rng.choices(("信用", "保证", "抵押", "质押", "组合"), (30, 30, 25, 5, 10))[0]
            renewal = not new and rng.random() < 0.04
            rate = round(rng.uniform(3.65, 6.2), 2)
            ident = p.id
            if i % bad_every == bad_every - 1:
                ident = ident[:17] + ("0" if ident[17] != "0" else "1")   # a wrong check character
            if suffix and fix.random() < 0.002:
                amount = round(amount * 1.1, 2)
            amount_sum += amount
            detail.append([
                i + 1, p.name, ident, p.type, p.county, _date_cell(day, date_style),
                _date_cell(_add_months(day, months), date_style), round(amount * factor, 2),
                round(amount * factor * rng.choice((1.0, 1.0, 1.5)), 2), method,
                "是" if new and not renewal else "否", "是" if renewal else "否", rate,
            ])
        if total_row and n:
            detail.append(["合计", None, None, None, None, None, None, round(amount_sum * factor, 2)])
        self.count("loans", n)
        sheets = [summary, detail]
        if has_apps:
            apps = Sheet("首贷申请", widths=[32, 22, 14, 14, 10], freeze=2)
            apps.append([f"{b.name}无贷户授信申请及回复情况"], bold=True)
            apps.append([c.headers[0] for c in APPLICATIONS.columns], bold=True)
            arng = _rng("apps", b.id, self.name)
            county_lists = list(self.w.noloan.values())
            for _ in range(arng.randint(20, 60)):
                p = arng.choice(arng.choice(county_lists)[:200])
                applied = self.prev + dt.timedelta(days=arng.randint(1, days))
                replied = applied + dt.timedelta(days=arng.randint(1, 9))
                done = replied <= self.date
                apps.append([p.name, p.id, applied, replied if done else None,
                             arng.choice(("授信", "授信", "授信", "拒绝")) if done else "办理中"])
                self.count("applications", 1)
            sheets.append(apps)
        self.save(name or self.book_name(b, suffix), sheets, f"{b.name}信贷数据台账")

    def pbc_summary(self, banks: list[Unit]) -> None:
        pbc = self.plan.unit("pbc_datong")
        sheet = Sheet("主要指标", widths=[26] + [16] * 13, freeze=3)
        sheet.append([f"大同市银行业金融机构信贷数据汇总表（{self.date.year}年{self.date.month}月{self.date.day}日）"], bold=True)
        sheet.append([f"填报单位：{pbc.aliases[1]}", None, None, f"填报日期：{_cjk(self.date)}", None, "单位：万元"])
        sheet.append([c.headers[0] for c in BANK_SUMMARY.columns], bold=True)
        rows = [self.figures(b) for b in banks]
        for row in rows:
            sheet.append(row)
        sheet.append(["合计", *[round(sum(r[i] for r in rows), 2) for i in range(1, len(rows[0]))]])
        self.count("bank_summary", len(rows))
        self.save(f"人行大同中支-各银行机构信贷数据汇总{self.date:%m%d}", [sheet], "信贷数据汇总")

    # ----- no-loan lists -----
    def noloan_lists(self) -> None:
        lo, hi = self.spec.noloan_earlier
        n_earlier = len(self.w.cycles) - 1
        for u in self.plan.expected_units("noloan"):
            size = self.spec.noloan_current if self.current else lo + (hi - lo) * self.idx // max(1, n_earlier - 1)
            entries = self.w.noloan[u.county][:size]
            rng = _rng("noloan", u.id, self.name)
            sheet = Sheet("无贷户名单", widths=[6, 32, 22, 12, 10, 26, 14, 16], freeze=3)
            sheet.append([f"{u.county}小微企业及个体工商户无贷户名单"], bold=True)
            sheet.merge(1, 1, 8)
            sheet.append([f"填报单位：{u.aliases[0]}", None, None, f"填报日期：{_cjk(self.date - dt.timedelta(days=1))}"])
            sheet.append(["序号", *[c.headers[0] for c in NOLOAN_LIST.columns]], bold=True)
            banks = [min((a for a in b.aliases if len(a) >= 3), key=len) for b in self.banks()]
            for i, p in enumerate(entries):
                sheet.append([i + 1, p.name, p.id, p.type, p.county, p.industry,
                              float(rng.choice((5, 10, 20, 50, 100, 200))), rng.choice(banks)])
            self.count("noloan_list", len(entries))
            self.save(f"{u.aliases[0]}无贷户名单（{self.date:%m%d}）", [sheet], f"{u.county}无贷户名单")

    # ----- guarantee -----
    def guarantee_ledgers(self) -> None:
        banks = [min((a for a in b.aliases if len(a) >= 3), key=len) for b in self.banks()]
        lo, hi = self.spec.guarantees_earlier
        n_earlier = len(self.w.cycles) - 1
        for u in self.plan.expected_units("guarantee"):
            size = self.spec.guarantees_current if self.current else lo + (hi - lo) * self.idx // max(1, n_earlier - 1)
            rng = _rng("guarantee", u.id, self.name)
            book = []
            pool = self.w.regular
            for k in range(size):
                p = pool[(k * 7919) % len(pool)]
                start = self.date - dt.timedelta(days=rng.randint(1, 700))
                book.append((p, rng.choice(("小微企业", "个体工商户", "三农", "战略性新兴产业", "其他")),
                             float(round(rng.uniform(10, 1500) / 10) * 10),
                             rng.choice((0.5, 0.8, 1.0, 1.2, 1.5, 2.0)), rng.choice(banks), start,
                             _add_months(start, rng.choice((24, 24, 36))), rng.choice((0, 10, 20, 20, 30))))
            book.sort(key=lambda g: (g[5], g[0].name))
            summary = Sheet("机构概况", widths=[28] + [16] * 7, freeze=3)
            summary.append([f"{u.name}担保业务台账（{self.date.year}年{self.date.month}月{self.date.day}日）"], bold=True)
            summary.append([f"填报单位：{u.name}", None, None, f"填报日期：{self.date:%Y.%m.%d}", None, "单位：万元"])
            summary.append([c.headers[0] for c in GUARANTEE_SUMMARY.columns], bold=True)
            in_force = sum(g[2] for g in book)
            summary.append([u.name, 50000.0, 52600.0 + 85 * self.idx, round(in_force, 2), len({g[0].id for g in book}),
                            round(in_force * 0.4, 2), round(in_force * 0.004, 2), round(in_force * 0.2, 2)])
            detail = Sheet("担保明细", widths=[6, 32, 22, 14, 12, 12, 14, 12, 12, 12], freeze=2)
            detail.append([f"{u.name}在保业务明细"], bold=True)
            detail.append(["序号", *[c.headers[0] for c in GUARANTEES.columns]], bold=True)
            for i, (p, gtype, amount, fee, bank, start, end, share) in enumerate(book):
                detail.append([i + 1, p.name, p.id, gtype, amount, fee, bank, start, end, share])
            self.count("guarantee_summary", 1)
            self.count("guarantees", len(book))
            self.save(f"财信担保担保业务台账{self.date:%m%d}", [summary, detail], f"{u.name}担保业务台账")


# ---------------------------------------------------------------------------------------------------------------
# Cache


def _plan_digest() -> str:
    return hashlib.sha256(PLAN_FILE.read_bytes()).hexdigest()[:16]


def _source_digest() -> str:
    """The generator's own code, as syntax (comments and formatting do not count): changing what it does
    invalidates the cache."""
    h = hashlib.sha256()
    for name in ("generate.py", "xlsx.py"):
        h.update(ast.dump(ast.parse((HERE / name).read_text(encoding="utf-8"))).encode())
    return h.hexdigest()[:16]


def cycle_key(spec: Spec, cycle: str) -> str:
    """What shapes one cycle folder: an earlier cycle does not depend on the current cycle's volume."""
    params = dataclasses.asdict(spec)
    if cycle != spec.current:
        for name in ("loans", "progress_ledgers", "bank_ledgers", "noloan_current", "guarantees_current"):
            params.pop(name)
    blob = json.dumps({"v": GEN_VERSION, "cycle": cycle, "params": params, "plan": _plan_digest(),
                       "code": _source_digest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def ensure_cycles(spec: Spec, root: Path = DATA, log=print) -> dict[str, Path]:
    """Generate (or reuse) every cycle folder of `spec`; returns cycle → cached folder."""
    plan = load_plan(PLAN_FILE)
    out: dict[str, Path] = {}
    world: World | None = None
    for idx, cycle in enumerate(spec.cycles(plan)):
        folder = root / "cycles" / f"{cycle}-{cycle_key(spec, cycle)}"
        out[cycle] = folder
        if (folder / MARKER).is_file():
            continue
        if world is None:
            t0 = time.perf_counter()
            world = World(plan, spec)
            log(f"  world: {time.perf_counter() - t0:.1f} s")
        if folder.exists():
            shutil.rmtree(folder)
        tmp = folder.with_name(folder.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        t0 = time.perf_counter()
        info = CycleWriter(world, idx, tmp / cycle).run()
        info["seconds"] = round(time.perf_counter() - t0, 1)
        (tmp / MARKER).write_text(json.dumps(info, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        tmp.rename(folder)
        log(f"  generated {cycle}: {info['files']} files, {sum(info['rows'].values()):,} rows ({info['seconds']} s)")
    return out


def cycle_info(folder: Path) -> dict:
    return json.loads((folder / MARKER).read_text(encoding="utf-8"))


def scenario(spec: Spec, target: Path, root: Path = DATA, log=print) -> dict:
    """A fresh `target/raw/<cycle>/` of hard links to the cached cycles (so a benchmark may replace a file in
    it without touching the cache). Returns the rows per cycle and table."""
    cycles = ensure_cycles(spec, root, log)
    raw = target / "raw"
    if raw.exists():
        shutil.rmtree(raw)
    rows = {}
    for cycle, folder in cycles.items():
        src = folder / cycle
        dst = raw / cycle
        dst.mkdir(parents=True)
        for path in sorted(src.iterdir()):
            try:
                os.link(path, dst / path.name)
            except OSError:
                shutil.copy2(path, dst / path.name)
        rows[cycle] = cycle_info(folder)["rows"]
    return {"raw": raw, "rows": rows}


def resend(spec: Spec, cycle_dir: Path, root: Path = DATA, log=print) -> Path:
    """One bank resends its lending ledger: the largest bank that has not already sent a corrected version
    replaces its file in `cycle_dir` (same name) with a corrected one (same loans, a few amounts changed, a later
    填报日期). The corrected file is cached beside the cycle; the replacement breaks the hard link, so the cache
    keeps the original. Returns the replaced path."""
    plan = load_plan(PLAN_FILE)
    cycles = spec.cycles(plan)
    idx = cycles.index(spec.current)
    cached = root / "cycles" / f"{spec.current}-{cycle_key(spec, spec.current)}" / "resend"
    if not cached.is_dir() or not any(cached.glob("*.xlsx")):
        world = World(plan, spec)
        writer = CycleWriter(world, idx, cached.with_name("resend.tmp"))
        books = writer.lending_plan()
        twice = {b.id for b, s, _ in books if s}
        bank, _, n = max(((b, s, n) for b, s, n in books if not s and b.id not in twice), key=lambda x: x[2])
        if writer.folder.exists():
            shutil.rmtree(writer.folder)
        writer.folder.mkdir(parents=True)
        writer.lending_book(bank, n, "（更正）", name=writer.book_name(bank))
        if cached.exists():
            shutil.rmtree(cached)
        writer.folder.rename(cached)
        log(f"  generated the resent ledger of {bank.name} ({n:,} loans)")
    source = next(cached.glob("*.xlsx"))
    target = Path(cycle_dir) / source.name
    if not target.is_file():
        raise FileNotFoundError(target)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="generate the benchmark's stress ledgers (cached)")
    parser.add_argument("--loans", type=int, default=Spec.loans, help="loan rows in the current cycle")
    parser.add_argument("--out", type=Path, default=DATA / "scenarios", help="where the scenario's raw folder goes")
    args = parser.parse_args(argv)
    spec = Spec(loans=args.loans)
    info = scenario(spec, args.out / f"loans-{args.loans}")
    print(info["raw"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
