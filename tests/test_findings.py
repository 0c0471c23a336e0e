"""Finding codes: every code the helpers can emit has a Chinese name, which the report shows instead of the code."""

from __future__ import annotations

import ast
import re

from helpers.core import findings as fd
from helpers.present.report import findings_summary
from tests.conftest import REPO

HELPERS = REPO / "src/helpers"


def _emitted_codes() -> set[str]:
    """The codes passed to `error`/`warning`/`info` anywhere in the helpers: string constants at the call, or,
    when the code is a parameter of the calling function, the constants every caller passes for it."""
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(HELPERS.rglob("*.py"))}
    codes: set[str] = set()
    forwarded: dict[str, tuple[int, str]] = {}     # function name → (position, name) of its code parameter

    for tree in trees.values():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            params = [a.arg for a in func.args.args]
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and _name(node.func) in ("error", "warning", "info") and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        codes.add(first.value)
                    elif isinstance(first, ast.Name) and first.id in params:
                        forwarded[func.name] = (params.index(first.id), first.id)
                    else:
                        raise AssertionError(f"a finding code that is not a constant: {ast.unparse(node)[:80]}")
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in forwarded:
                position, name = forwarded[_name(node.func)]
                given = [k.value for k in node.keywords if k.arg == name]
                given += node.args[position:position + 1]
                codes.update(g.value for g in given if isinstance(g, ast.Constant) and isinstance(g.value, str))
    return codes


def _name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def test_every_emitted_code_has_a_chinese_name():
    codes = _emitted_codes()
    assert len(codes) > 70                      # the scan found the codes (and the forwarded ones)
    assert {"loans_sender_not_bank", "bad_identifier", "first_loan_count_differs"} <= codes
    assert sorted(codes - set(fd.CODE_LABELS)) == []
    assert sorted(set(fd.CODE_LABELS) - codes) == []       # no name kept for a code that is gone
    for code, label in fd.CODE_LABELS.items():
        assert label and label.isascii() is False, code


def test_report_summary_names_categories_in_chinese():
    found = fd.to_frame([
        fd.warning("bad_identifier", "证件号码应为 18 位", file="a.xlsx", row=5),
        fd.warning("bad_identifier", "证件号码校验未通过", file="a.xlsx", row=6),
        fd.info("total_row_skipped", "合计/小计行不计入数据", file="a.xlsx", row=9),
        fd.error("some_future_code", "新版本的问题", file="b.xlsx"),
    ])
    html = findings_summary(found)
    assert "证件号码有误" in html and "合计/小计行" in html and "其他问题" in html
    assert "bad_identifier" not in html and "total_row_skipped" not in html and "some_future_code" not in html
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    identifier_row = next(r for r in rows if "证件号码有误" in r)
    assert "警告" in identifier_row and re.search(r">\s*2\s*<", identifier_row)
