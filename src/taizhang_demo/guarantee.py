"""Demo guarantee ledgers."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from helpers.core.cycles import previous_cycle
from helpers.ingest.formats import GUARANTEE_SUMMARY, GUARANTEES
from .lending import _Party, _add_months
from .workbooks import _Sheet, _contact_line, _date_text, _file_alias, _short_name, _workbook_bytes


class GuaranteeLedgers:
    """The guarantee institutions' ledgers."""

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
                summary.rows.append(_contact_line(self.rng("contact", u.id)))
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
