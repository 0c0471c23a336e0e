""".xlsx workbooks read without loading them whole: the package's parts checked, each sheet's
XML scanned, small sheets read densely and large ones cell by cell (the sparse path).
"""

from __future__ import annotations

import html
import posixpath
import re
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import python_calamine

from . import sheets as sources_sheets
from ..core import findings as fd
from ..core.findings import Finding
from .cell_formats import workbook_percent_styles, xlsx_percent_cells
from .sheets import (CHUNK_BYTES, DENSE_ALWAYS_AREA, DENSE_MIN_FILL, LISTED_CELLS, MAX_CARRY_BYTES, MAX_COLUMNS,
                     MAX_META_BYTES, MAX_SHEETS, MAX_WORKBOOK_CELLS, _Refused, _SheetNotes, Sheet, _apply_patches,
                     _calamine_error, _cell_findings, _rows_from_calamine, _trimmed, _value, column_letters)


_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _column_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.decode("ascii").upper():
        n = n * 26 + ord(ch) - 64
    return n


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: the package


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_META_BYTES:
        raise _Refused(fd.error("workbook_too_large", f"工作簿的结构部分 {info.filename} 过大，无法读取"))
    return zf.read(info)


def _parse_xml(data: bytes, what: str) -> ET.Element:
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
        raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（{what} 含有不允许的 DTD）"))
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（{what} 无法解析：{exc}）")) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rels(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], part: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (type suffix, target part path) for `part`."""
    folder, base = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    info = members.get(rels_name.lower())
    if info is None:
        return {}
    out = {}
    for el in _parse_xml(_read_small(zf, info), rels_name):
        if _local(el.tag) != "Relationship" or el.get("TargetMode") == "External":
            continue
        target = el.get("Target", "").replace("\\", "/")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[el.get("Id", "")] = (el.get("Type", "").rsplit("/", 1)[-1], path)
    return out


@dataclass
class _SheetEntry:
    name: str
    hidden: bool
    kind: str          # worksheet, chartsheet, dialogsheet, xlMacrosheet ...
    part: str | None


@dataclass
class _Package:
    zf: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo]     # lower-cased name → info
    workbook_part: str
    sheets: list[_SheetEntry]
    styles: str | None
    shared_strings: str | None
    date1904: bool


def _open_package(zf: zipfile.ZipFile) -> _Package:
    infos = zf.infolist()
    if any(i.flag_bits & 0x1 for i in infos):
        raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
    declared = sum(i.file_size for i in infos)
    if declared > sources_sheets.MAX_UNCOMPRESSED_BYTES:
        raise _Refused(fd.error("workbook_too_large",
                                f"工作簿解压后有 {declared / 2**30:.1f} GiB，超过 {sources_sheets.MAX_UNCOMPRESSED_BYTES // 2**30} GiB 上限，未读取"))
    members = {i.filename.replace("\\", "/").lower(): i for i in infos}
    workbook_part = None
    for typ, target in _rels(zf, members, "").values():
        if typ == "officeDocument":
            workbook_part = target
    if workbook_part is None or workbook_part.lower() not in members:
        workbook_part = "xl/workbook.xml" if "xl/workbook.xml" in members else None
    if workbook_part is None:
        if "word/document.xml" in members:
            raise _Refused(fd.error("not_a_workbook", "文件是 Word 文档，不是 Excel 工作簿"))
        if "ppt/presentation.xml" in members:
            raise _Refused(fd.error("not_a_workbook", "文件是 PowerPoint 演示文稿，不是 Excel 工作簿"))
        if "content.xml" in members:
            raise _Refused(fd.error("unsupported_format", "文件是 OpenDocument（.ods）表格，请另存为 .xlsx 后重新报送"))
        raise _Refused(fd.error("not_a_workbook", "文件不是有效的 Excel 工作簿（压缩包中没有工作簿）"))
    if workbook_part.lower().endswith(".bin"):
        raise _Refused(fd.error("unsupported_format", "文件是二进制工作簿（.xlsb），请另存为 .xlsx 后重新报送"))
    root = _parse_xml(_read_small(zf, members[workbook_part.lower()]), workbook_part)
    rels = _rels(zf, members, workbook_part)
    date1904 = False
    sheets: list[_SheetEntry] = []
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "workbookPr":
            date1904 = el.get("date1904", "").lower() in ("1", "true")
        elif tag == "sheet":
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
            kind, part = rels.get(rid, ("worksheet", None))
            sheets.append(_SheetEntry(el.get("name", ""), el.get("state", "visible") in ("hidden", "veryHidden"),
                                      kind, part if part and part.lower() in members else None))
    styles = next((p for t, p in rels.values() if t == "styles" and p.lower() in members), None)
    strings = next((p for t, p in rels.values() if t == "sharedStrings" and p.lower() in members), None)
    return _Package(zf, members, workbook_part, sheets, styles, strings, date1904)


def _verify_part(pkg: _Package, part: str | None) -> None:
    """Decompress a part calamine will read, so that a size lie or a corrupt stream is caught here (Python
    stops at the declared size and checks the CRC) rather than inside calamine."""
    if part is None:
        return
    with pkg.zf.open(pkg.members[part.lower()]) as f:
        while f.read(CHUNK_BYTES):
            pass


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: scanning sheet XML


def _letters_upto(limit: int) -> bytes:
    """A regular expression for the column letters of columns 1..limit (limit 1024 → A … AMJ)."""
    top = column_letters(limit)
    alternatives = [b"[A-Z]{1,%d}" % (len(top) - 1)] if len(top) > 1 else []
    for i, ch in enumerate(top):
        if ch > "A":
            alternatives.append(top[:i].encode() + b"[A-" + chr(ord(ch) - 1).encode() + b"]" + b"[A-Z]" * (len(top) - i - 1))
    alternatives.append(top.encode())
    return b"(?:" + b"|".join(alternatives) + b")"


def _patterns(prefix: bytes) -> dict[str, Any]:
    return _compiled_patterns(prefix, MAX_COLUMNS)


@lru_cache(maxsize=8)
def _compiled_patterns(prefix: bytes, max_columns: int) -> dict[str, Any]:
    p = re.escape(prefix)
    near = _letters_upto(max_columns)           # columns that are read; cells further right are ignored
    return {
        "near": near,
        # every <c> start tag; group 1 = column letters when r="A1" is its first attribute, else b""
        "tags": re.compile(rb"<" + p + rb"c(?: r=\"([A-Z]{1,3})[0-9]|[\s>/])"),
        "rows": re.compile(rb"<" + p + rb"c r=\"" + near + rb"([0-9]+)"),
        # rows that hold cells that are read: <row r="7" ...> directly followed by such a cell
        "row_tags": re.compile(rb"<" + p + rb"row r=\"([0-9]{1,7})\"[^>]*(?<!/)>\s*<" + p + rb"c r=\"" + near + rb"[0-9]"),
        # cells right of the last column read: (letters, row, "/" when self-closing)
        "far": re.compile(rb"<" + p + rb"c r=\"(?!" + near + rb"[0-9])([A-Z]{1,3})([0-9]+)\"[^>]*?(/?)>"),
        "far_cell": re.compile(rb"<" + p + rb"c r=\"(?!" + near + rb"[0-9])[A-Z]{1,3}[0-9]+\"[^>]*?(?:/>|>.*?</" + p + rb"c>)",
                               re.DOTALL),
        "hidden_row": re.compile(rb"<" + p + rb"row\b([^>]*?\bhidden=[\"'](?:1|true)[\"'][^>]*)>"),
        "hidden_col": re.compile(rb"<" + p + rb"col\b([^>]*?\bhidden=[\"'](?:1|true)[\"'][^>]*)>"),
        "merge": re.compile(rb"<" + p + rb"mergeCell\b[^>]*?\bref=[\"']([^\"']+)[\"']"),
        "error_tag": re.compile(rb"<" + p + rb"c\b([^>]*?\bt=[\"']e[\"'][^>]*)>"),
        "no_cache": re.compile(rb"(?:<" + p + rb"f\b[^>]*/>|<" + p + rb"f\b[^>]*>[^<]*</" + p + rb"f>)\s*"
                               rb"(?:<" + p + rb"v\s*/>|<" + p + rb"v>\s*</" + p + rb"v>)?\s*</" + p + rb"c>"),
        "no_cache_body": re.compile(rb"\s*(?:<" + p + rb"f\b[^>]*/>|<" + p + rb"f\b[^>]*>([^<]*)</" + p + rb"f>)\s*"
                                    rb"(<" + p + rb"v\s*/>|<" + p + rb"v>\s*</" + p + rb"v>)?\s*"),
        "value": re.compile(rb"<" + p + rb"v>([^<]*)</" + p + rb"v>"),
        # row and cell tags in document order: 1-4 a cell with a leading reference (letters, digits, other
        # attributes, body), 5-6 any other cell (attributes, body), 7-9 a row start (attributes, "/"), 10 a row end
        "walker": re.compile(rb"<" + p + rb"(?:c r=\"([A-Z]{1,3})([0-9]{1,7})\"([^>]*?)(?:/>|>(.*?)</" + p + rb"c>)"
                             rb"|c\b([^>]*?)(?:/>|>(.*?)</" + p + rb"c>)|(row)\b([^>]*?)(/?)>)|(</" + p + rb"row>)", re.DOTALL),
        "other_prefix": b":c r=\"" if not prefix else b"<c ",
        # literal tags, for bytes.count / rfind
        "row_end": b"</" + prefix + b"row>",
        "cell_end": b"</" + prefix + b"c>",
        "c_open": b"<" + prefix + b"c",
        "f_open": b"<" + prefix + b"f",
    }


def _rows_beyond(prefix: bytes, n: int) -> re.Pattern:
    return _compiled_rows_beyond(prefix, n, _patterns(prefix)["near"])


@lru_cache(maxsize=64)
def _compiled_rows_beyond(prefix: bytes, n: int, near: bytes) -> re.Pattern:
    """A reference to a cell that is read (not right of the last column) whose row number is greater than n."""
    digits = str(n)
    alternatives = [b"[0-9]{%d,}" % (len(digits) + 1)]
    for i, ch in enumerate(digits):
        if ch != "9":
            alternatives.append(digits[:i].encode() + b"[%d-9]" % (int(ch) + 1) + b"[0-9]" * (len(digits) - i - 1))
    return re.compile(rb"<" + re.escape(prefix) + rb"c r=\"" + near + rb"(?:" + b"|".join(alternatives) + rb")\"")


_ATTR = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_REF = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})$")
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?(worksheet|chartsheet|dialogsheet|macrosheet)\b")


def _attrs(raw: bytes) -> dict[str, str]:
    return {m.group(1).decode("ascii", "replace").rsplit(":", 1)[-1]:
            (m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8", "replace")
            for m in _ATTR.finditer(raw)}


def _ref(text: str | None) -> tuple[int, int] | None:
    m = _REF.match(text or "")
    if not m:
        return None
    row, col = int(m.group(2)), _column_number(m.group(1))
    return (row, col) if 1 <= row <= 1048576 and col <= 16384 else None


def _error_text(attrs: dict[str, str], body: bytes, pat: dict[str, Any]) -> str | None:
    if attrs.get("t") != "e":
        return None
    m = pat["value"].search(body or b"")
    text = html.unescape(m.group(1).decode("utf-8", "replace")).strip() if m else ""
    return text or None


def _no_cache_formula(attrs: dict[str, str], body: bytes, pat: dict[str, Any]) -> str | None:
    """The formula text of a cell that has a formula but no cached result, else None."""
    m = pat["no_cache_body"].fullmatch(body or b"")
    if not m or (m.group(2) and attrs.get("t") == "str"):
        return None
    return html.unescape((m.group(1) or b"").decode("utf-8", "replace"))


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, pat: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The part's bytes in chunks that never split a cell: each chunk ends after a </row> (or </c>)."""
    carry = b""
    with zf.open(info) as f:
        while True:
            data = f.read(CHUNK_BYTES)
            if not data:
                if carry:
                    yield carry
                return
            buf = carry + data if carry else data
            if pat is None:
                pat = _patterns(_prefix(buf))
            cut = _last_end(buf, pat)
            if cut <= 0:
                if len(buf) > MAX_CARRY_BYTES:
                    cut = buf.rfind(b">") + 1
                if cut <= 0:
                    if len(buf) > MAX_CARRY_BYTES:
                        raise _Refused(fd.error("sheet_unreadable", "工作表数据异常（超长的无结构内容），未读取"))
                    carry = buf
                    continue
            yield buf[:cut]
            carry = buf[cut:]


def _last_end(buf: bytes, pat: dict[str, Any]) -> int:
    for key in ("row_end", "cell_end"):
        tag = pat[key]
        pos = buf.rfind(tag)
        if pos >= 0:
            return pos + len(tag)
    return -1


def _prefix(head: bytes) -> bytes:
    m = _ROOT.search(head[:65536])
    return m.group(1) or b"" if m else b""


@dataclass
class _Scan:
    kind: str = "worksheet"
    prefix: bytes = b""
    max_row: int = 0
    max_col: int = 0
    content: int = 0           # </c>: cells that may hold a value
    irregular: bool = False    # some cell lacks a leading r="A1" (or is in another namespace prefix): read sparsely
    far: bool = False          # some cells with a value lie right of the last column read
    notes: _SheetNotes = field(default_factory=_SheetNotes)


def _scan_sheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Scan:
    """One cheap pass over a sheet's XML: extent, cell count, hidden rows/columns, merges, errors, formulas
    without cached values. Regular expressions only; nothing per cell in Python."""
    scan = _Scan()
    pat: dict[str, Any] | None = None
    max_row = 0
    cols_seen: set[bytes] = set()
    first = True
    for buf in _chunks(zf, info):
        if first:
            first = False
            m = _ROOT.search(buf[:65536])
            scan.kind = m.group(2).decode() if m else "worksheet"
            scan.prefix = (m.group(1) or b"") if m else b""
            pat = _patterns(scan.prefix)
        assert pat is not None
        if pat["other_prefix"] in buf:     # cells in another namespace prefix than the sheet's own
            scan.irregular = True
        cols_seen.update(_unseen_letters(buf, scan.prefix, cols_seen))
        if any(c and _column_number(c) > MAX_COLUMNS for c in cols_seen):
            notes = scan.notes
            for m in pat["far"].finditer(buf):
                if m.group(3) or buf.startswith(pat["cell_end"], m.end()):
                    continue                   # a styled but empty cell: calamine skips it, nothing is lost
                notes.out_of_range_count += 1
                if len(notes.out_of_range) < LISTED_CELLS:
                    notes.out_of_range.append((int(m.group(2)), _column_number(m.group(1))))
                scan.far = True
        # the highest row: from the row tags (few), then one search for any cell below it (rarely finds one)
        tags = pat["row_tags"].findall(buf)
        if tags:
            max_row = max(max_row, max(map(int, tags)))
        if _rows_beyond(scan.prefix, max_row).search(buf):
            max_row = max(max_row, max(map(int, pat["rows"].findall(buf))))
        scan.content += buf.count(pat["cell_end"])
        notes = scan.notes
        if b"hidden=" in buf:
            for m in pat["hidden_row"].finditer(buf):
                a = _attrs(m.group(1))
                if "r" in a and a["r"].isdigit():
                    notes.hidden_rows.add(int(a["r"]))
                else:
                    scan.irregular = True
            for m in pat["hidden_col"].finditer(buf):
                a = _attrs(m.group(1))
                try:
                    notes.hidden_cols.append((int(a["min"]), int(a["max"])))
                except (KeyError, ValueError):
                    pass
        # merges follow the sheet data, so only the tail after the chunk's last </row> can hold them
        tail = max(0, buf.rfind(pat["row_end"]))
        if buf.find(b"mergeCell", tail) >= 0:
            notes.merged.extend(m.group(1).decode("ascii", "replace") for m in pat["merge"].finditer(buf, tail))
        if b't="e"' in buf or b"t='e'" in buf:
            for m in pat["error_tag"].finditer(buf):
                if m.group(1).endswith(b"/"):
                    continue
                a = _attrs(m.group(1))
                end = buf.find(pat["cell_end"], m.end())
                text = _error_text(a, buf[m.end():end], pat)
                pos = _ref(a.get("r"))
                if text and pos:
                    notes.errors[pos] = text
        if pat["f_open"] in buf:
            for m in pat["no_cache"].finditer(buf):
                start = buf.rfind(pat["c_open"], 0, m.start())
                tag_end = buf.find(b">", start)
                if start < 0 or tag_end < 0 or tag_end > m.start():
                    continue
                a = _attrs(buf[start + 2 + len(scan.prefix):tag_end])
                formula = _no_cache_formula(a, buf[tag_end + 1:m.end() - len(pat["cell_end"])], pat)
                pos = _ref(a.get("r"))
                if formula is not None and pos:
                    notes.no_cache[pos] = formula
    if b"" in cols_seen:
        scan.irregular = True
        cols_seen.discard(b"")
    near = [n for n in map(_column_number, cols_seen) if n <= MAX_COLUMNS]
    scan.max_col = max(near, default=0)
    scan.max_row = max_row
    for kept in (scan.notes.errors, scan.notes.no_cache):
        for pos in [pos for pos in kept if pos[1] > MAX_COLUMNS]:
            del kept[pos]
    if max_row > 1048576:
        scan.irregular = True
    return scan


_MAX_UNSEEN = 64     # new column letters searched for one by one in a chunk; more and every cell tag is listed


def _unseen_letters(buf: bytes, prefix: bytes, seen: set[bytes]) -> set[bytes]:
    """The column letters of the chunk's cell tags that are not in `seen` (b"" for a tag without a leading
    r="A1"): what the `tags` pattern would find, less what is known, found by searching only for the tags that
    are not a reference to a known column (usually none after the first rows), instead of listing every tag."""
    tags = _patterns(prefix)["tags"]
    found: set[bytes] = set()
    pos = 0
    while len(found) <= _MAX_UNSEEN:
        m = _unseen_pattern(prefix, frozenset(seen | found)).search(buf, pos)
        if m is None:
            return found
        tag = tags.match(buf, m.start())
        found.add(tag.group(1) or b"")      # type: ignore[union-attr]
        pos = tag.end()                     # type: ignore[union-attr]
    return (found | set(tags.findall(buf, pos))) - seen


@lru_cache(maxsize=256)
def _unseen_pattern(prefix: bytes, known: frozenset[bytes]) -> re.Pattern:
    """A cell tag that `tags` would give other letters than `known` (b"" in `known`: a tag without a leading
    reference is known). The known letters in a lookahead, grouped by all but their last letter."""
    groups: dict[bytes, list[bytes]] = {}
    for letters in sorted(k for k in known if k):
        groups.setdefault(letters[:-1], []).append(letters[-1:])
    names = b"|".join(head + b"[" + b"".join(tails) + b"]" for head, tails in groups.items())
    p = re.escape(prefix)
    if b"" in known:      # only references to other columns
        lookahead = b"(?!(?:" + names + b")[0-9])" if names else b""
        return re.compile(rb"<" + p + rb"c r=\"" + lookahead + rb"[A-Z]{1,3}[0-9]")
    # any tag but a reference to a known column
    return re.compile(rb"<" + p + rb"c" + (rb"(?! r=\"(?:" + names + rb")[0-9])" if names else b"") + rb"[\s>/]")


def _dense_ok(scan: _Scan) -> bool:
    area = scan.max_row * scan.max_col
    return (not scan.irregular and scan.max_col <= MAX_COLUMNS and area <= sources_sheets.DENSE_MAX_AREA
            and (area <= DENSE_ALWAYS_AREA or scan.content >= area * DENSE_MIN_FILL))


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: the sparse path

_SYN_WIDTH = 64   # cells per row of the packed temporary sheet

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_EMPTY_STYLES = (f'<styleSheet xmlns="{_MAIN_NS}"><cellXfs count="1"><xf numFmtId="0"/></cellXfs></styleSheet>')
_EMPTY_STRINGS = f'<sst xmlns="{_MAIN_NS}" count="0" uniqueCount="0"/>'


def _syn_workbook(date1904: bool) -> str:
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN_NS}" '
            f'xmlns:r="{_REL_NS}">{pr}<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')


def _syn_workbook_rels() -> str:
    base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{base}worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{base}styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{base}sharedStrings" Target="sharedStrings.xml"/></Relationships>')


class _Packer:
    """Writes kept cells, packed _SYN_WIDTH to a row, into the temporary sheet; remembers where they came from."""

    def __init__(self, out, prefix: bytes):
        self.out = out
        self.buf: list[bytes] = []
        self.prefix = prefix
        self.rows = array("l")
        self.cols = array("l")
        self.ordered = True
        self._last = (0, 0)
        self._refs = [b'<c r="' + column_letters(j + 1).encode() for j in range(_SYN_WIDTH)]

    def add(self, row: int, col: int, attrs: bytes, body: bytes) -> None:
        """`attrs`: the cell's attributes without its reference."""
        i = len(self.rows)
        k, j = divmod(i, _SYN_WIDTH)
        buf = self.buf
        if j == 0:
            buf.append(b'</row><row r="%d">' % (k + 1) if i else b'<row r="1">')
            if len(buf) > 4096:
                self.out.write(b"".join(buf))
                buf.clear()
        if self.prefix:
            body = body.replace(b"<" + self.prefix, b"<").replace(b"</" + self.prefix, b"</")
        buf.append(self._refs[j] + b'%d"' % (k + 1) + attrs + b">" + body + b"</c>")
        self.rows.append(row)
        self.cols.append(col)
        if (row, col) <= self._last:
            self.ordered = False
        self._last = (row, col)

    def close(self) -> None:
        if len(self.rows):
            self.buf.append(b"</row>")
        self.out.write(b"".join(self.buf))
        self.buf.clear()


@contextmanager
def _synthetic_book(pkg: _Package, write_sheet) -> Iterator[Path]:
    """A temporary one-sheet workbook sharing the original's styles, shared strings and date system; its sheet
    (named "S") is written by `write_sheet(dst)`. Yields its path, for calamine."""
    with tempfile.TemporaryDirectory(prefix="taizhang-") as tmp:
        syn = Path(tmp) / "sheet.xlsx"
        with zipfile.ZipFile(syn, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
            out.writestr("[Content_Types].xml", _CONTENT_TYPES)
            out.writestr("_rels/.rels", _ROOT_RELS)
            out.writestr("xl/workbook.xml", _syn_workbook(pkg.date1904))
            out.writestr("xl/_rels/workbook.xml.rels", _syn_workbook_rels())
            for part, name, empty in ((pkg.styles, "xl/styles.xml", _EMPTY_STYLES),
                                      (pkg.shared_strings, "xl/sharedStrings.xml", _EMPTY_STRINGS)):
                with out.open(name, "w", force_zip64=True) as dst:
                    if part is None:
                        dst.write(empty.encode())
                    else:
                        with pkg.zf.open(pkg.members[part.lower()]) as src:
                            while block := src.read(CHUNK_BYTES):
                                dst.write(block)
            with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as dst:
                write_sheet(dst)
        yield syn


def _read_filtered(pkg: _Package, entry: _SheetEntry, scan: _Scan) -> list[tuple[int, tuple]]:
    """A sheet whose cells are sane once those right of MAX_COLUMNS are dropped: copy its XML without them
    (a regular-expression substitution, no work per cell in Python) and let calamine read the copy densely."""
    pat = _patterns(scan.prefix)
    info = pkg.members[entry.part.lower()]  # type: ignore[union-attr]

    def write_sheet(dst) -> None:
        for buf in _chunks(pkg.zf, info, pat):
            dst.write(pat["far_cell"].sub(b"", buf))

    with _synthetic_book(pkg, write_sheet) as syn:
        book = python_calamine.CalamineWorkbook.from_path(str(syn))
        try:
            patches: dict[tuple[int, int], object] = dict(scan.notes.errors)
            patches.update({pos: None for pos in scan.notes.no_cache})
            return _rows_from_calamine(book.get_sheet_by_name("S"), patches)
        finally:
            book.close()


def _read_sparse(pkg: _Package, entry: _SheetEntry, scan: _Scan, place: dict) -> tuple[list[tuple[int, tuple]], _SheetNotes]:
    """Any other sheet: walk its cells (`_sparse_walk`), pack the non-empty ones _SYN_WIDTH to a row into a
    temporary sheet, let calamine convert their values, and put them back where they came from."""
    notes = _SheetNotes(merged=scan.notes.merged, hidden_cols=scan.notes.hidden_cols)
    info = pkg.members[entry.part.lower()]  # type: ignore[union-attr]
    packer: _Packer | None = None

    def write_sheet(dst) -> None:
        nonlocal packer
        dst.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN_NS}" '
                  f'xmlns:r="{_REL_NS}"><sheetData>'.encode())
        packer = _Packer(dst, scan.prefix)
        _sparse_walk(pkg, info, scan, packer, notes, place)
        packer.close()
        dst.write(b"</sheetData></worksheet>")

    with _synthetic_book(pkg, write_sheet) as syn:
        assert packer is not None
        n = len(packer.rows)
        values: list[object] = [None] * n
        if n:
            book = python_calamine.CalamineWorkbook.from_path(str(syn))
            try:
                sh = book.get_sheet_by_name("S")
                start = sh.start
                if start is not None:
                    c0 = start[1]
                    for k, raw in enumerate(sh.iter_rows()):
                        base = k * _SYN_WIDTH + c0
                        for j, v in enumerate(raw):
                            if v != "" and base + j < n:
                                values[base + j] = _value(v)
            finally:
                book.close()
    patches: dict[tuple[int, int], object] = dict(notes.errors)
    patches.update({pos: None for pos in notes.no_cache})
    return _assemble(packer.rows, packer.cols, values, packer.ordered, patches), notes


_R_IN_ATTRS = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?r\s*=\s*[\"']([^\"']*)[\"']")
_REF_BYTES = re.compile(rb"([A-Za-z]{1,3})([0-9]{1,7})")


def _sparse_walk(pkg: _Package, info: zipfile.ZipInfo, scan: _Scan, packer: _Packer, notes: _SheetNotes,
                 place: dict) -> None:
    """Walk row and cell tags in document order, following calamine's rules for cells without a reference:
    a <row r> sets the row, </row> (or a self-closing row) advances it and resets the column; a cell with r
    sets both, one without takes the current row and the next column."""
    pat = _patterns(scan.prefix)
    walker = pat["walker"]
    f_open = pat["f_open"]
    r_in_attrs, ref_bytes = _R_IN_ATTRS.search, _REF_BYTES.fullmatch
    columns: dict[bytes, int] = {}    # column letters → number
    row_index = 0
    col_index = 0
    kept = 0
    for buf in _chunks(pkg.zf, info, pat):
        for m in walker.finditer(buf):
            letters, digits, raw_attrs, body, other_attrs, other_body, row_tag, row_attrs, row_closed, row_end = m.groups()
            if letters is not None:                              # <c r="A1" ...>: the usual case
                col = columns.get(letters)
                if col is None:
                    col = columns[letters] = _column_number(letters)
                row = int(digits)
                col_index = col
                if row < 1 or row > 1048576 or col > 16384:
                    notes.bad_refs += 1
                    continue
            elif row_end is not None:                            # </row>
                row_index += 1
                col_index = 0
                continue
            elif row_tag is not None:                            # <row ...> or <row .../>
                a = _attrs(row_attrs)
                r = a.get("r", "")
                if r.isdigit() and int(r) >= 1:
                    row_index = int(r) - 1
                if a.get("hidden", "").lower() in ("1", "true"):
                    notes.hidden_rows.add(row_index + 1)
                col_index = 0
                if row_closed:
                    row_index += 1
                continue
            else:                                                # any other cell tag
                raw_attrs, body = other_attrs, other_body
                if body is None and raw_attrs.endswith(b"/"):
                    raw_attrs = raw_attrs[:-1]
                rm = r_in_attrs(raw_attrs)
                if rm is not None:
                    ref = ref_bytes(rm.group(1))
                    col = _column_number(ref.group(1)) if ref else 0
                    row = int(ref.group(2)) if ref else 0
                    if not 1 <= row <= 1048576 or not 1 <= col <= 16384:
                        notes.bad_refs += 1
                        col_index += 1
                        continue
                    col_index = col
                    raw_attrs = raw_attrs[:rm.start()] + raw_attrs[rm.end():]
                else:
                    row, col = row_index + 1, col_index + 1
                    col_index += 1
            if not body or body.isspace():
                continue
            if col > MAX_COLUMNS:  # type: ignore[operator]
                notes.out_of_range_count += 1
                if len(notes.out_of_range) < LISTED_CELLS:
                    notes.out_of_range.append((row, col))  # type: ignore[arg-type]
                continue
            is_error = (b"t=\"e\"" in raw_attrs or b"t='e'" in raw_attrs) and _attrs(raw_attrs).get("t") == "e"
            if is_error:
                error = _error_text({"t": "e"}, body, pat)
                if error is not None:
                    notes.errors[(row, col)] = error  # type: ignore[index]
                    continue
            if f_open in body:
                formula = _no_cache_formula(_attrs(raw_attrs), body, pat)
                if formula is not None:
                    notes.no_cache[(row, col)] = formula  # type: ignore[index]
                    continue
            if is_error:                                         # an error cell without its text
                continue
            kept += 1
            if kept > sources_sheets.MAX_SHEET_CELLS:
                raise _Refused(fd.error("sheet_too_large", f"工作表非空单元格超过 {sources_sheets.MAX_SHEET_CELLS:,} 个，未读取", **place))
            packer.add(row, col, raw_attrs, body)  # type: ignore[arg-type]


def _assemble(rows_arr: array, cols_arr: array, values: list, ordered: bool,
              patches: dict[tuple[int, int], object]) -> list[tuple[int, tuple]]:
    """(row, col, value) triples → non-empty rows; a later cell at the same place wins, as in calamine."""
    triples = zip(rows_arr, cols_arr, values)
    if not ordered:
        last: dict[tuple[int, int], object] = {}
        for r, c, v in triples:
            last[(r, c)] = v
        triples = ((r, c, v) for (r, c), v in sorted(last.items()))   # type: ignore[assignment]
    out: list[tuple[int, tuple]] = []
    cur_row, cells = -1, []
    for r, c, v in triples:
        if r != cur_row:
            if cells:
                row = _trimmed(cells)
                if row is not None:
                    out.append((cur_row, row))
            cur_row, cells = r, []
        if v is None:
            continue
        if len(cells) < c:
            cells.extend([None] * (c - len(cells)))
        cells[c - 1] = v
    if cells:
        row = _trimmed(cells)
        if row is not None:
            out.append((cur_row, row))
    return _apply_patches(out, patches) if patches else out


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: the whole workbook


def _read_xlsx(path: Path, place: dict, findings: list[Finding]) -> list[Sheet]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（压缩包损坏：{exc}）")) from None
    with zf:
        pkg = _open_package(zf)
        for part in (pkg.workbook_part, pkg.styles, pkg.shared_strings):
            try:
                _verify_part(pkg, part)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
                raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（{part} 损坏：{exc}）")) from None
        calamine_book = None
        calamine_failed = False
        sheets: list[Sheet] = []
        total_cells = 0
        percent_styles: frozenset[int] | None = None
        try:
            for n_sheet, entry in enumerate(pkg.sheets):
                sheet_place = {**place, "sheet": entry.name}
                if n_sheet >= MAX_SHEETS:
                    findings.append(fd.error("too_many_sheets", f"工作簿有 {len(pkg.sheets)} 个工作表，只读取前 {MAX_SHEETS} 个", **place))
                    break
                if entry.kind not in ("worksheet", ""):
                    findings.append(fd.info("not_a_worksheet", "图表或宏表，不是数据工作表，已跳过", **sheet_place))
                    continue
                if entry.part is None:
                    findings.append(fd.error("sheet_unreadable", "工作表的数据部分缺失，未读取", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                info = pkg.members[entry.part.lower()]
                try:
                    scan = _scan_sheet(zf, info)
                except _Refused as exc:
                    findings.append(replace(exc.finding, **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
                    findings.append(fd.error("sheet_unreadable", f"工作表数据损坏，未读取（{exc}）", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                if scan.kind != "worksheet":
                    findings.append(fd.info("not_a_worksheet", "图表或对话框工作表，不是数据工作表，已跳过", **sheet_place))
                    continue
                if scan.content > sources_sheets.MAX_SHEET_CELLS:
                    findings.append(fd.error("sheet_too_large", f"工作表约有 {scan.content:,} 个非空单元格，超过 "
                                             f"{sources_sheets.MAX_SHEET_CELLS:,} 个上限，未读取", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                if total_cells + scan.content > MAX_WORKBOOK_CELLS:
                    findings.append(fd.error("workbook_too_large", f"工作簿单元格总数超过 {MAX_WORKBOOK_CELLS:,} 个，"
                                             "本表及以后的工作表未读取", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                total_cells += scan.content
                rows: list[tuple[int, tuple]] | None = None
                notes = scan.notes
                if _dense_ok(scan) and scan.far:
                    try:
                        rows = _read_filtered(pkg, entry, scan)
                    except BaseException as exc:  # calamine may panic (a BaseException)
                        if not (_calamine_error(exc) or isinstance(exc, (zipfile.BadZipFile, zlib.error, OSError))):
                            raise
                        rows = None
                elif _dense_ok(scan) and not calamine_failed:
                    try:
                        if calamine_book is None:
                            with open(path, "rb") as f:    # by content: the extension may be wrong
                                calamine_book = python_calamine.CalamineWorkbook.from_filelike(f)
                        if entry.name in calamine_book.sheet_names:
                            patches: dict[tuple[int, int], object] = dict(notes.errors)
                            patches.update({pos: None for pos in notes.no_cache})
                            rows = _rows_from_calamine(calamine_book.get_sheet_by_name(entry.name), patches)
                    except BaseException as exc:  # calamine may panic (a BaseException)
                        if not _calamine_error(exc):
                            raise
                        rows = None
                        if calamine_book is None:
                            calamine_failed = True
                if rows is None:
                    try:
                        rows, notes = _read_sparse(pkg, entry, scan, sheet_place)
                    except _Refused as exc:
                        findings.append(exc.finding)
                        sheets.append(Sheet(entry.name, (), entry.hidden))
                        continue
                    except BaseException as exc:  # calamine may panic (a BaseException)
                        if not (_calamine_error(exc) or isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError,
                                                                         OSError, RuntimeError, ValueError))):
                            raise
                        findings.append(fd.error("sheet_unreadable", f"工作表无法读取（{exc}）", **sheet_place))
                        sheets.append(Sheet(entry.name, (), entry.hidden))
                        continue
                findings.extend(_cell_findings(notes, rows, sheet_place))
                if percent_styles is None:
                    percent_styles = workbook_percent_styles(
                        zf, pkg.members[pkg.styles.lower()].filename if pkg.styles else None)
                sheets.append(Sheet(entry.name, tuple(rows), entry.hidden, tuple(notes.merged),
                                    xlsx_percent_cells(zf, info.filename, percent_styles)))
        finally:
            if calamine_book is not None:
                calamine_book.close()
    return sheets
