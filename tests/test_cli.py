"""`taizhang`'s own messages about its arguments are Chinese, like everything else it prints."""

from __future__ import annotations

import re

import pytest

from helpers import cli


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.mark.parametrize("argv, says", [
    (["frobnicate"], "没有「frobnicate」这个命令（可用：run、templates、demo、plan）"),
    ([], "请给出命令：run、templates、demo、plan"),
    (["plan"], "请给出命令：import、check、diff"),
    (["plan", "frob"], "没有「frob」这个命令（可用：import、check、diff）"),
    (["run", "--cycle"], "参数 --cycle 后面需要一个值"),
    (["templates", "--raw"], "参数 --raw 后面需要一个值"),
    (["run", "--bogus", "x"], "无法识别的参数：--bogus x"),
])
def test_argument_errors_are_one_chinese_line(capsys, argv, says):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("用法：taizhang")
    assert lines[-1].endswith(says), lines[-1]
    assert "error" not in err and "usage" not in err and "argument" not in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["templates", "-h"], ["demo", "-h"]])
def test_help_is_chinese(capsys, argv):
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert out.startswith("用法：taizhang") and "显示帮助并退出" in out
    # argparse's own English is gone; what remains in Latin letters is the command and its options
    words = set(re.findall(r"[A-Za-z]{3,}", out)) - {"taizhang", "help", "run", "templates", "demo", "cycle", "plan",
                                                      "raw", "processed", "reports", "out", "force", "data", "datong",
                                                      "YYYY"}
    assert words == set(), words
