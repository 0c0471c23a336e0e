"""Tests for helpers.identifiers: USCC and resident-ID checks, masking, and the generators."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers.core.identifiers import (USCC_ALPHABET, IdCheck, check_id, is_personal, make_resident_id, make_uscc,
                                      mask_id, mask_name, normalize_id, resident_check_char, uscc_check_char,
                                      valid_kinds)

USCC_A = "91110000600037341L"
USCC_B = "9144030071526726XG"
RESIDENT = "11010519491231002X"


# --------------------------------------------------------------------------------------------------
# normalize_id
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 91110000600037341l ", USCC_A),
        ("９１１１００００６０００３７３４１Ｌ", USCC_A),
        ("911100-0060 0037341L", USCC_A),
        ("110105 19491231 002x", RESIDENT),
        ("'11010519491231002X", RESIDENT),  # Excel's text marker leaking from a CSV
        ("\u200b11010519491231002X", RESIDENT),
        (110105194912310020, "110105194912310020"),
        (1.1010519491231002e17, "110105194912310016"),  # digits already lost by Excel
        ("110105194912310020.0", "110105194912310020"),
    ],
)
def test_normalize_id(raw: object, expected: str) -> None:
    assert normalize_id(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "  ", "-", float("nan")])
def test_normalize_id_blank_is_none(raw: object) -> None:
    assert normalize_id(raw) is None


# --------------------------------------------------------------------------------------------------
# check_id
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (USCC_A, "uscc"),
        (USCC_B, "uscc"),
        (RESIDENT, "resident"),
        ("11010519491231002x", "resident"),
        ("９１４４０３００７１５２６７２６ＸＧ", "uscc"),
    ],
)
def test_check_id_accepts_public_examples(raw: str, kind: str) -> None:
    check = check_id(raw)
    assert check == IdCheck(normalize_id(raw) or "", kind, True, None)  # type: ignore[arg-type]


def test_check_id_labels() -> None:
    assert check_id(USCC_A).label == "统一社会信用代码"
    assert check_id(RESIDENT).label == "居民身份证号码"


def test_check_id_bad_uscc_check_names_the_expected_character() -> None:
    check = check_id("91110000600037341M")
    assert (check.kind, check.valid) == ("uscc", False)
    assert check.problem == "统一社会信用代码校验位错误：第 18 位应为「L」，实为「M」"


def test_check_id_bad_resident_check_names_the_expected_character() -> None:
    check = check_id("110105194912310021")
    assert (check.kind, check.valid) == ("resident", False)
    assert check.problem == "身份证号码校验位错误：第 18 位应为「X」，实为「1」"


def test_check_id_impossible_birth_date() -> None:
    check = check_id("110105194902300021")  # 1949-02-30
    assert (check.kind, check.valid) == ("resident", False)
    assert "出生日期不存在" in (check.problem or "")


def test_check_id_future_birth_date_is_impossible() -> None:
    today = dt.date.today()
    if today.month == 12 and today.day == 31:
        pytest.skip("no later date in this year")
    body = f"110105{today.year}1231002"
    check = check_id(body + resident_check_char(body))
    assert (check.kind, check.valid) == ("resident", False)
    assert "出生日期不存在" in (check.problem or "")


def test_check_id_prefers_resident_for_digit_codes() -> None:
    # 17 digits starting 1-8 with a birth-year shape: read as a resident ID even when a USCC check would
    # hold, since calling a personal ID an organisation's code is the unsafe mistake.
    body = "11010519900101007"
    as_uscc = body + uscc_check_char(body)
    assert (as_uscc, resident_check_char(body)) == ("110105199001010071", "X")
    problem = "身份证号码校验位错误：第 18 位应为「X」，实为「1」"
    assert check_id(as_uscc) == IdCheck(as_uscc, "resident", False, problem)
    # No area code starts with 9, so a digit code starting with 9 is a USCC.
    assert check_id(make_uscc("91140200600037341")).kind == "uscc"


@pytest.mark.parametrize(
    ("raw", "kind", "part"),
    [
        ("9111000060003734", "unknown", "证件号码应为 18 位，实为 16 位"),
        ("91110000600037341LL", "unknown", "实为 19 位"),
        ("91110000600O37341L", "unknown", "不允许的字符「O」"),
        ("9111000060003734IL", "unknown", "不允许的字符「I」"),
        ("911100006000中7341L", "unknown", "不允许的字符「中」"),
        ("110105491231002", "resident", "15 位旧版身份证号码"),
        ("1.10105E+17", "unknown", "科学计数法"),
        ("", "unknown", "证件号码为空"),
        (None, "unknown", "证件号码为空"),
    ],
)
def test_check_id_problems(raw: object, kind: str, part: str) -> None:
    check = check_id(raw)
    assert (check.kind, check.valid) == (kind, False)
    assert part in (check.problem or "")


def test_check_id_number_cells_get_a_hint() -> None:
    check = check_id(110105194912310020)  # an ID typed into a number cell: Excel kept 15 significant digits
    assert not check.valid
    assert "数字格式" in (check.problem or "")


def test_check_id_problem_never_repeats_the_identifier() -> None:
    for raw in ("110105194912310021", "110105194902300021", "91110000600037341M", "1101051949123100"):
        problem = check_id(raw).problem or ""
        assert raw not in problem and raw[6:14] not in problem


def test_is_personal() -> None:
    assert is_personal(check_id(RESIDENT))
    assert is_personal(check_id("110105194912310021"))  # invalid, still personal
    assert not is_personal(check_id(USCC_A))


# --------------------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("140202199001011234", "140202********1234"),
        (RESIDENT, "110105********002X"),
        ("110105194912310021", "110105********0021"),  # failed check: still masked
        ("140202299001011234", "140202********1234"),  # typo in the birth year: still shaped like an ID
        ("110105491231002", "110105*****1002"),
        (USCC_A, USCC_A),
        ("91110000600037341M", "9111************1M"),  # failed check: may be a mistyped personal ID
        ("12140200405920713F", "12140200405920713F"),  # valid USCC of a public institution
        ("121402004059207005", "121402********7005"),  # valid, but all digits and not starting with 9
        ("12345678", "1234**78"),
        ("ABC", "***"),
        (None, ""),
    ],
)
def test_mask_id(raw: object, masked: str) -> None:
    assert mask_id(raw) == masked


def test_mask_id_accepts_a_check() -> None:
    assert mask_id(check_id(RESIDENT)) == "110105********002X"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("王建设", "王**"),
        ("李行", "李*"),
        (" 张 三 ", "张*"),
        ("大同市某某商贸有限公司", "大同市某某商贸有限公司"),
        ("平城区老王面馆", "平城区老王面馆"),
        ("云州区黄花种植专业合作社", "云州区黄花种植专业合作社"),
        ("阳高县李四家庭农场", "阳高县李四家庭农场"),
        ("大同市城区张三副食店", "大同市城区张三副食店"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --------------------------------------------------------------------------------------------------
# Generators and properties
# --------------------------------------------------------------------------------------------------


def test_generators_reproduce_public_examples() -> None:
    assert make_uscc(USCC_A[:17]) == USCC_A
    assert make_uscc(USCC_B[:17].lower()) == USCC_B
    assert make_resident_id("110105", dt.date(1949, 12, 31), 2) == RESIDENT


@pytest.mark.parametrize(("args", "part"), [(("1234",), "17"), (("9111000060003734I",), "alphabet")])
def test_make_uscc_rejects_bad_seeds(args: tuple[str], part: str) -> None:
    with pytest.raises(ValueError, match=part):
        make_uscc(*args)


@pytest.mark.parametrize(
    ("area", "birth", "seq"),
    [
        ("1401", dt.date(1990, 1, 1), 1),
        ("940202", dt.date(1990, 1, 1), 1),
        ("140202", dt.date(1990, 1, 1), 1000),
        ("140202", dt.date(1850, 1, 1), 1),
    ],
)
def test_make_resident_id_rejects_bad_parts(area: str, birth: dt.date, seq: int) -> None:
    with pytest.raises(ValueError):
        make_resident_id(area, birth, seq)


_USCC_BODIES = st.tuples(
    st.sampled_from("9Y"),
    st.sampled_from("123"),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
).map("".join)
_RESIDENTS = st.builds(
    make_resident_id,
    st.tuples(st.sampled_from("12345678"), st.text(alphabet="0123456789", min_size=5, max_size=5)).map("".join),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()),
    st.integers(0, 999),
)


@given(_USCC_BODIES)
def test_make_uscc_always_validates(body: str) -> None:
    assert check_id(make_uscc(body)) == IdCheck(make_uscc(body), "uscc", True, None)


@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
def test_make_uscc_output_always_validates_or_refuses(body: str) -> None:
    try:
        code = make_uscc(body)
    except ValueError as exc:
        assert "resident" in str(exc)
        return
    assert check_id(code) == IdCheck(code, "uscc", True, None)


def test_make_uscc_refuses_seeds_that_read_as_resident_ids() -> None:
    with pytest.raises(ValueError, match="resident"):
        make_uscc("11010519900101007")


@given(_RESIDENTS)
def test_make_resident_id_always_validates(resident: str) -> None:
    check = check_id(resident)
    assert (check.kind, check.valid) == ("resident", True)
    assert mask_id(resident) == resident[:6] + "********" + resident[-4:]


@given(st.one_of(_USCC_BODIES.map(make_uscc), _RESIDENTS), st.integers(0, 17), st.sampled_from(USCC_ALPHABET + "IOSVZ"))
def test_flipping_one_character_is_caught(valid_id: str, position: int, replacement: str) -> None:
    assume(valid_id[position] != replacement)
    before = check_id(valid_id)
    after = check_id(valid_id[:position] + replacement + valid_id[position + 1:])
    assert not after.valid or after.kind != before.kind


@given(_RESIDENTS, st.integers(0, 17), st.sampled_from(USCC_ALPHABET + "IOSVZ"))
def test_a_mistyped_resident_id_is_never_shown_whole(resident: str, position: int, replacement: str) -> None:
    mistyped = resident[:position] + replacement + resident[position + 1:]
    check = check_id(mistyped)
    # The one residue: a typo that both leaves the resident shape and satisfies the USCC check (1 in 31).
    assume(not (check.kind == "uscc" and check.valid))
    assert mistyped[6:14] not in mask_id(mistyped)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_check_id_and_masks_never_raise(value: object) -> None:
    check = check_id(value)
    assert check.valid == (check.problem is None)
    mask_id(value)
    mask_name(value if isinstance(value, str) else None)


def _agrees_with_check_id(ids: list[str], today: dt.date | None = None) -> None:
    """`valid_kinds` (column-wise) says valid exactly where `check_id` does, for plain 18-character texts; anything
    else it leaves to `check_id`."""
    for text, kind in zip(ids, valid_kinds(ids, today)):
        check = check_id(text)
        plain = len(text) == 18 and check.normalized == text
        assert kind == (check.kind if check.valid and plain else None), text


_ID_LIKE = st.one_of(
    _USCC_BODIES.map(make_uscc), _RESIDENTS,
    st.text(alphabet=USCC_ALPHABET + "IOSVZEX-中 a", min_size=15, max_size=19),
    st.text(alphabet="0123456789X", min_size=18, max_size=18),
    st.tuples(st.sampled_from("123456789"), st.text(alphabet="0123456789", min_size=5, max_size=5),
              st.integers(1890, dt.date.today().year + 1).map(str), st.integers(0, 13).map("{:02d}".format),
              st.integers(0, 32).map("{:02d}".format), st.text(alphabet="0123456789", min_size=3, max_size=3),
              st.sampled_from("0123456789X")).map("".join),
)


@given(st.lists(st.one_of(_ID_LIKE, _ID_LIKE.map(lambda t: t[:5] + "E" + t[6:])), max_size=40))
def test_valid_kinds_agrees_with_check_id(ids: list[str]) -> None:
    _agrees_with_check_id(ids)


def test_valid_kinds_on_the_edges() -> None:
    today = dt.date.today()
    birthdays = [dt.date(2000, 2, 29), dt.date(1904, 2, 29), dt.date(1900, 1, 1), today, today - dt.timedelta(days=1)]
    ids = [make_resident_id("140202", b, 7) for b in birthdays]
    # no 29 February in 1900 or 2100, no 31 April, no birth after today, digits around an E (a number in
    # scientific notation), a valid USCC and a lower-case one (normalised by check_id: left to it)
    tomorrow = today + dt.timedelta(days=1)
    for body in ("14020219000229123", "14020220000431123", f"140202{tomorrow:%Y%m%d}123"):
        ids.append(body + resident_check_char(body))
    ids += ["91140200E12345678X", "9114020012345E6789", make_uscc("91140200MA0K8XY21"),
            make_uscc("91140200MA0K8XY21").lower(), "", "110105199001010071"]
    _agrees_with_check_id(ids)
    assert valid_kinds(ids[:5]) == ["resident"] * 5
    assert valid_kinds([make_uscc("91140200MA0K8XY21")]) == ["uscc"]
