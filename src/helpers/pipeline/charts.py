"""The report's charts kept between runs under processed/<cycle>/charts, and the
executed report notebook rendered as one page.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..core.fingerprints import code_digest
from ..plan.model import Plan
from ..present.report import page, use_chart_cache, with_contents
from .paths import Folders, KeptFiles


class ChartCache:
    """Charts a run drew, kept as PNG files named by a digest of everything they are drawn from: the chart
    function, the content of its arguments, the helpers' code and the versions of matplotlib and the font. A rerun
    whose data did not change shows them without drawing them again; since the same chart gives the same bytes,
    a kept chart is exactly the chart that would be drawn. `prune` removes those the last report did not show."""

    def __init__(self, folder: Path, folders: Folders):
        import matplotlib

        self.files = KeptFiles(folder, ".png", folders)
        self.salt = f"{code_digest()}|{matplotlib.__version__}|{_font_version()}".encode()

    def key(self, fn: Callable, args: tuple, kwargs: dict) -> str | None:
        """The digest of a call, or None when an argument's content cannot be told (the chart is then drawn)."""
        part = _content_digest((fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items()))))
        return None if part is None else hashlib.sha256(self.salt + part).hexdigest()[:40]

    def get(self, key: str) -> bytes | None:
        data = self.files.read(key)
        if data is None or not data.startswith(b"\x89PNG\r\n\x1a\n"):
            return None
        self.files.keep(key)
        return data

    def put(self, key: str, png: bytes) -> None:
        self.files.write(key, png)

    def prune(self) -> None:
        self.files.prune()


def keep_charts(folder: Path, folders: Folders) -> ChartCache:
    """Keep the charts drawn from now on in `folder` (inside the processed folder), and show those kept there
    when their inputs are the same. Returns the cache, whose `prune` ends the report."""
    return use_chart_cache(ChartCache(folder, folders))


def _content_digest(value: Any) -> bytes | None:
    """Bytes that differ whenever `value`'s content does (a tuple's parts each preceded by its length), or None."""
    if isinstance(value, tuple):
        parts = [_content_digest(v) for v in value]
        if any(p is None for p in parts):
            return None
        return b"(" + b"".join(len(p).to_bytes(8, "big") + p for p in parts) + b")"   # type: ignore[arg-type]
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr((type(value).__name__, value)).encode()
    if isinstance(value, pd.DataFrame):
        try:
            rows = pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes()
        except TypeError:    # a cell holding a list or a dict: not hashed, the chart is drawn
            return None
        shape = repr(([str(c) for c in value.columns], [str(d) for d in value.dtypes])).encode()
        return hashlib.sha256(shape + rows).digest()
    if isinstance(value, Plan):
        return None if value.file_digest is None else value.file_digest.encode()
    return None


def _font_version() -> str:
    try:
        from importlib.metadata import version

        return version("mplfonts")
    except Exception:   # noqa: BLE001 - no font package: the fallback fonts, whatever they are
        return "-"


_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)([^>]*>)")
_OUTPUT_DIV = re.compile(r'(<div class="[^"]*\bjp-OutputArea-output\b[^"]*"(?![^>]*\btabindex=))')


_NUMERIC_REF = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")


def _character(match: re.Match) -> str:
    text = match.group(1)
    try:
        char = chr(int(text[1:], 16) if text[0] in "xX" else int(text))
    except (ValueError, OverflowError):
        return match.group(0)
    return match.group(0) if char in "&<>\"'" or ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF else char


def render_report(notebook: Path) -> str:
    """The executed report notebook as one self-contained page: outputs only, images embedded, no code."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter

    class _Exporter(HTMLExporter):
        """HTMLExporter without its last step, which parses the whole page again with BeautifulSoup (2 s for a
        report with a long findings table) only to give images a default alt text and outputs a tabindex; the
        same two edits are made here on the text."""

        def from_notebook_node(self, nb, resources=None, **kw):
            from nbconvert.filters.highlight import Highlight2HTML
            from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code",
                                 self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            html = _IMG_WITHOUT_ALT.sub(r'<img alt="图表"\1', html)
            html = _OUTPUT_DIV.sub(r'\1 tabindex="0"', html)
            # BeautifulSoup also wrote characters that the markdown renderer had escaped as numbers (&#24635;) as
            # themselves: the page stays readable as text (and searchable in its source)
            html = _NUMERIC_REF.sub(_character, html)
            return html, resources

    nb = nbformat.read(str(notebook), as_version=4)
    for number, cell in enumerate(nb.cells):   # papermill gives the cell it adds a random id: same run, same page
        cell["id"] = f"c{number}"
    # no heading anchors: nbconvert writes an empty one as "<a ... />", which a browser takes as an <a> left open
    # (the rest of the page would become one link)
    exporter = _Exporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                         exclude_output_prompt=True, exclude_anchor_links=True)
    body, _ = exporter.from_notebook_node(nb)
    title = nb.metadata.get("title") or "台账报告"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            meta_title = output.get("metadata", {}).get("taizhang_title") if isinstance(output, dict) else None
            if meta_title:
                title = meta_title
    return page(with_contents(body), title)
