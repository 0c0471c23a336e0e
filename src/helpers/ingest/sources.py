"""The one entry to raw files: `read_workbook` sniffs a file's format and hands it to its reader;
`list_cycle_files` lists a cycle folder. Everything wrong is a finding, never an exception.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import replace
from pathlib import Path

import python_calamine

from . import read_exports
from ..core import findings as fd
from ..core.fingerprints import file_sha256 as file_sha256
from ..core.findings import Finding
from .read_text import _looks_like_table_text, _read_csv
from .read_xls import _cfb, _read_xls
from .read_xlsx import _read_xlsx
from .sheets import (ARCHIVE_SUFFIXES, EMPTY_ZIP_MAGIC, EXCEL_SUFFIXES, MAX_CSV_BYTES, MAX_FILE_BYTES,
                     NOT_LEDGER_SUFFIXES, OLE_MAGIC, QUIET_NAMES, ZIP_MAGIC, _Refused, Sheet, Workbook,
                     _calamine_error, _rows_from_calamine, readable_name)


# ---------------------------------------------------------------------------------------------------------------
# Public verbs


def _digest_and_head(path: Path) -> tuple[str, bytes]:
    """Hash of the file and its first bytes (for sniffing the format)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return file_sha256(path), head


def relative_name(path: Path, root: Path | None) -> str:
    """`path` relative to `root` (posix style, readable: `readable_name`), as findings and tables name a file."""
    return _display_name(Path(path), root)


def _display_name(path: Path, root: Path | None) -> str:
    if root is not None:
        for inner, outer in ((path.absolute(), Path(root).absolute()), (path.resolve(), Path(root).resolve())):
            try:
                return readable_name(inner.relative_to(outer).as_posix())
            except ValueError:
                continue
    return readable_name(path.name)


def read_workbook(path: Path, *, root: Path | None = None) -> Workbook:
    """Read one raw file (.xlsx/.xlsm, .xls/.et, .csv) into a `Workbook`. Never raises for bad input: what went
    wrong is in `Workbook.findings` (file-level and cell-level, `file` relative to `root`)."""
    path = Path(path)
    name = _display_name(path, root)
    place = {"file": name}
    findings: list[Finding] = []
    sheets: list[Sheet] = []
    digest = ""
    try:
        try:
            size = path.stat().st_size
            digest, head = _digest_and_head(path)
        except OSError as exc:
            raise _Refused(fd.error("file_unreadable", f"文件无法打开（{exc.strerror or exc}）")) from None
        if size == 0:
            raise _Refused(fd.error("empty_file", "文件为空（0 字节），请重新报送"))
        if size > MAX_FILE_BYTES:
            raise _Refused(fd.error("file_too_large", f"文件有 {size / 2**20:.0f} MB，超过 {MAX_FILE_BYTES // 2**20} MB 上限，未读取"))
        suffix = path.suffix.lower()
        sheets = _read_by_content(path, suffix, head, place, findings)
        if not any(s.rows for s in sheets) and not any(f.severity == "error" for f in findings):
            findings.append(fd.warning("empty_workbook", "工作簿中没有任何数据", **place))
        for s in sheets:
            if s.hidden and s.rows:
                findings.append(fd.info("hidden_sheet", "工作表是隐藏的，已照常读取", sheet=s.name, **place))
    except _Refused as exc:
        f = exc.finding
        findings.append(f if f.file else replace(f, file=name))
    except MemoryError:
        sheets = []
        findings.append(fd.error("read_failed", "文件过大，内存不足，未读取", **place))
    except BaseException as exc:  # a bad file must never stop a cycle
        if not (isinstance(exc, Exception) or _calamine_error(exc)):
            raise
        sheets = []
        findings.append(fd.error("read_failed", f"文件读取失败（{type(exc).__name__}: {exc}）", **place))
    return Workbook(path, name, tuple(sheets), tuple(findings), digest)


def _read_by_content(path: Path, suffix: str, head: bytes, place: dict, findings: list[Finding]) -> list[Sheet]:
    """Choose the reader from the file's first bytes, the extension only breaking ties."""
    def mismatch(kind: str) -> Finding:
        return fd.info("extension_mismatch", f"文件扩展名是 {suffix or '（无）'}，实际内容是{kind}，已按实际格式读取", **place)

    if head.startswith(ZIP_MAGIC):
        if _zip_is_ods(path):
            if suffix not in (".ods", ".ots"):
                findings.append(mismatch(" OpenDocument 表格（.ods）"))
            return _read_export(lambda: _read_ods(path), place)
        if suffix not in (".xlsx", ".xlsm", ".xltx", ".xltm", ".et", ".ett", ".xlsb", ".ods"):
            findings.append(mismatch(" .xlsx 工作簿"))
        return _read_xlsx(path, place, findings)
    if head.startswith(EMPTY_ZIP_MAGIC):
        raise _Refused(fd.error("not_a_workbook", "文件不是有效的 Excel 工作簿（空压缩包）"))
    if head.startswith(OLE_MAGIC):
        data = path.read_bytes()
        cfb = _cfb(data)
        names = {n.lower() for n in cfb.names()} if cfb else set()
        if "encryptioninfo" in names or "encryptedpackage" in names or (
                cfb is None and "EncryptionInfo".encode("utf-16-le") in data):
            raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
        if "workbook" in names or "book" in names:
            if suffix not in (".xls", ".xlt", ".et", ".ett"):
                findings.append(mismatch("旧版 .xls 工作簿"))
            return _read_xls(path, data, cfb, place, findings)  # type: ignore[arg-type]
        if "worddocument" in names:
            raise _Refused(fd.error("not_a_workbook", "文件是 Word 文档，不是 Excel 工作簿"))
        if suffix in (".xlsx", ".xlsm", ".xltx", ".xltm"):
            # Excel writes an .xlsx inside an OLE container only when it is password-protected
            raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
        raise _Refused(fd.error("xls_unreadable", "旧版 .xls 文件无法读取，请另存为 .xlsx"))
    if suffix == ".csv":
        return _read_csv(path, path.read_bytes(), place, findings)
    if read_exports.is_spreadsheetml(head):
        if suffix not in (".xls", ".xml", ".et"):
            findings.append(mismatch(" Excel 2003 XML 表格"))
        return _read_export(lambda: _read_spreadsheetml(path), place)
    if read_exports.is_html(head):
        # bank and government systems save an HTML table under .xls; read it as the page shows it
        if suffix not in (".xls", ".htm", ".html", ".et"):
            findings.append(mismatch("网页（HTML）表格"))
        return _read_export(lambda: _read_html(path, place, findings), place)
    if suffix in (".xls", ".et") and path.stat().st_size <= MAX_CSV_BYTES:
        data = path.read_bytes()
        if _looks_like_table_text(data):
            findings.append(fd.warning("text_as_xls", f"文件扩展名是 {suffix}，实际是文本（制表符或逗号分隔），已按文本读取；"
                                       "数字和日期均按文字读取", **place))
            return _read_csv(path, data, place, findings)
    if suffix in (".xls", ".xlt"):
        raise _Refused(fd.error("xls_unreadable", "旧版 .xls 文件无法读取，请另存为 .xlsx"))
    if suffix in EXCEL_SUFFIXES:
        raise _Refused(fd.error("not_a_workbook", "文件不是有效的 Excel 工作簿"))
    if suffix in (".xlsb", ".ods"):
        raise _Refused(fd.error("unsupported_format", f"文件不是有效的 {suffix} 表格，请另存为 .xlsx 后重新报送"))
    raise _Refused(fd.error("not_a_workbook", f"文件不是 Excel 工作簿或 CSV（扩展名 {suffix or '（无）'}），未读取"))


def _read_export(read, place: dict) -> list[Sheet]:
    """Run one of `read_exports`' readers, its refusals as the suite's."""
    try:
        return read()
    except read_exports.ExportRefused as exc:
        raise _Refused(replace(exc.finding, **{k: v for k, v in place.items() if not getattr(exc.finding, k)})) from None


def _zip_is_ods(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return read_exports.is_ods(zf)
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _read_ods(path: Path) -> list[Sheet]:
    """An OpenDocument spreadsheet, read by calamine once its repeated rows and columns are bounded."""
    with zipfile.ZipFile(path) as zf:
        manifest = zf.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in zf.namelist() else b""
        if any(i.flag_bits & 0x1 for i in zf.infolist()) or b"encryption-data" in manifest:
            raise _Refused(fd.error("encrypted", "表格已加密，无法读取，请取消密码后重新报送"))
        read_exports.check_ods(zf)
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    sheets = []
    for meta in book.sheets_metadata:
        sheet = book.get_sheet_by_name(meta.name)
        hidden = str(getattr(meta, "visible", "")).lower().endswith(("hidden", "veryhidden"))
        sheets.append(Sheet(meta.name, tuple(_rows_from_calamine(sheet, {})), hidden))
    return sheets


def _read_spreadsheetml(path: Path) -> list[Sheet]:
    return [Sheet(name, rows, hidden) for name, rows, hidden in read_exports.read_spreadsheetml(path.read_bytes())]


def _read_html(path: Path, place: dict, findings: list[Finding]) -> list[Sheet]:
    sheets, notes, _ = read_exports.read_html_tables(path.read_bytes(), readable_name(path.stem))
    findings.extend(replace(f, **place) for f in notes)
    if not sheets:
        raise _Refused(fd.error("not_a_workbook", "文件是网页（HTML）格式，但其中没有表格"))
    return [Sheet(name, rows) for name, rows in sheets]


def _quiet(name: str) -> bool:
    low = name.lower()
    return name.startswith(("~$", ".")) or low in QUIET_NAMES


def list_cycle_files(cycle_dir: Path) -> tuple[list[Path], list[Finding]]:
    """Every file below the cycle folder, sub-folders included, sorted by relative path. Office lock files,
    hidden files, Thumbs.db and desktop.ini are skipped quietly; documents, pictures and archives are left
    out with a finding; everything else is returned for `read_workbook` to judge."""
    cycle_dir = Path(cycle_dir)
    if not cycle_dir.is_dir():
        return [], [fd.error("cycle_folder_missing", f"本期文件夹不存在：{cycle_dir}")]
    found: list[tuple[str, Path]] = []
    for here, dirs, files in os.walk(cycle_dir):
        dirs[:] = [d for d in dirs if not _quiet(d)]
        for file_name in files:
            if _quiet(file_name):
                continue
            p = Path(here) / file_name
            found.append((readable_name(p.relative_to(cycle_dir).as_posix()), p))
    found.sort()
    paths: list[Path] = []
    out: list[Finding] = []
    for rel, p in found:
        suffix = p.suffix.lower()
        if suffix in ARCHIVE_SUFFIXES:
            out.append(fd.warning("archive_not_read", "压缩包未解压，其中的台账没有读取；如有台账请解压后放入本期文件夹", file=rel))
        elif suffix in NOT_LEDGER_SUFFIXES:
            out.append(fd.info("not_a_ledger", "不是台账文件，已忽略", file=rel))
        else:
            paths.append(p)
    return paths, out
