"""Demo lending ledgers: one simulated year of loans, applications and no-loan lists per bank."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from helpers.core.cycles import CalendarUnavailable, add_workdays, elapsed_share, previous_cycle
from helpers.core.identifiers import USCC_ALPHABET, make_resident_id, make_uscc
from helpers.indicators import lending_scope
from helpers.indicators.lending_scope import LoanScope
from helpers.ingest.formats import APPLICATIONS, BANK_SUMMARY, LOANS, NOLOAN_LIST
from helpers.plan.model import Unit
from .workbooks import (_Sheet, _Taker, _contact_line, _date_text, _file_alias, _person_name, _read_back_key,
                        _short_name, _workbook_bytes)


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


class _FirstLoans:
    """The first-loan households of the year so far as the suite derives them from the ledgers' 贷款明细
    (`lending.first_loan_claims`): a borrower, known by the identifier as read back from the ledger, counts for
    the bank with its earliest claim (发放日期, then bank name) in the first cycle it has any loan, unless the loan
    is a renewal."""

    def __init__(self, scope: LoanScope) -> None:
        self.scope = scope                   # the plan's household 口径 (`lending_scope`)
        self.seen: set[str] = set()          # borrowers with a loan in an earlier cycle's ledgers
        self.per_bank: dict[str, int] = {}   # bank id → first-loan households so far

    def add_cycle(self, ledgers: list[tuple[_Bank, list[dict]]]) -> None:
        claims = []
        first_day: dict[str, dt.date] = {}   # each borrower's earliest loan of this cycle, at any bank
        for bank, loans in ledgers:
            for loan in loans:
                key = _read_back_key(loan["written_id"], loan["party"].name)
                first_day[key] = min(first_day.get(key, loan["date"]), loan["date"])
                in_scope = loan["party"].type in self.scope.borrower_types and (
                    self.scope.credit_line_max is None or loan["line"] <= self.scope.credit_line_max)
                if loan["first"] and not loan["renewal"] and key not in self.seen and in_scope:
                    claims.append((loan["date"], bank.unit.name, bank.unit.id, key))
        counted: set[str] = set()
        for day, _, bank_id, key in sorted(claims):
            if key not in counted and day == first_day[key]:
                counted.add(key)
                self.per_bank[bank_id] = self.per_bank.get(bank_id, 0) + 1
        self.seen |= set(first_day)


class LendingLedgers:
    """The banks' lending ledgers, the no-loan lists and the PBC summary, from one simulated year of loans."""

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
        first_loans = _FirstLoans(lending_scope.scopes(self.plan)[lending_scope.HOUSEHOLDS])
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
        summary.rows.append(_contact_line(self.rng("contact", b.unit.id)))    # the same person every cycle
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
