"""Presenting finished frames: HTML sections with every value escaped, matplotlib charts with Chinese glyphs,
and the self-contained report page rendered from the executed report notebook.

Nothing here computes a figure; it only formats what the earlier stages wrote.
"""

from __future__ import annotations

import functools
import html
import math
import re
import threading
from dataclasses import dataclass
from urllib.parse import quote
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from ..core.findings import SEVERITIES, SEVERITY_LABELS, code_label, record_place_text
from ..core.identifiers import mask_ids_in_text
from ..ingest.formats import LEDGER_KIND_LABELS
from ..plan.model import ROLE_LEAD, Plan
from ..reconcile.lights import LIGHT_LABELS, LIGHTS, light_counts, on_time_rate, sparse_cycle


LIGHT_COLOURS = {"red": "#d93025", "orange": "#f28b00", "yellow": "#f2c300", "green": "#1e8e3e", "grey": "#9aa0a6"}
_FONT_READY = False

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC","WenQuanYi Micro Hei",sans-serif;
 max-width:1180px;margin:0 auto;padding:24px 32px;color:#202124;line-height:1.55;background:#fff;overflow-wrap:anywhere}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:20px;border-bottom:2px solid #1a73e8;padding-bottom:4px;margin-top:36px}
h3{font-size:16px;margin:20px 0 6px}.sub{color:#5f6368;margin:0 0 16px}
.tz-scroll{overflow-x:auto;max-width:100%}
table.tz{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:13px}
table.tz th{background:#f1f3f4;text-align:left;padding:5px 8px;border:1px solid #dadce0;white-space:nowrap}
table.tz td{padding:5px 8px;border:1px solid #dadce0;vertical-align:top}
table.tz td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.light{display:inline-block;min-width:1.6em;padding:0 6px;border-radius:9px;color:#fff;font-size:12px;text-align:center;
 margin:1px 2px;white-space:nowrap;border:1.5px solid transparent}
.light-red{background:#d93025;border-color:#d93025}.light-orange{background:#f28b00;border-color:#f28b00}
.light-yellow{background:#f2c300;border-color:#f2c300;color:#202124}
.light-green{background:#1e8e3e;border-color:#1e8e3e}.light-grey{background:#9aa0a6;border-color:#9aa0a6}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.card{border:1px solid #dadce0;border-radius:8px;padding:10px 16px;
 min-width:150px}.card .v{font-size:26px;font-weight:600}.card .l{color:#5f6368;font-size:13px}
.note{background:#fef7e0;border-left:4px solid #f2c300;padding:8px 12px;margin:8px 0}
.alert{background:#fdecea;border:2px solid #c5221f;color:#8a1c14;font-weight:bold;padding:10px 14px;margin:10px 0}
.muted{color:#5f6368}.sev-error{color:#d93025;font-weight:600}.sev-warning{color:#b06000}.sev-info{color:#5f6368}
.milestones{min-width:10em}img{max-width:100%;height:auto}.jp-OutputArea-output pre{white-space:pre-wrap}
nav.toc{border:1px solid #dadce0;border-radius:8px;padding:8px 16px;margin:12px 0;font-size:14px}
nav.toc ol{margin:4px 0;padding-left:1.2em;columns:2}nav.toc a{color:#1a73e8;text-decoration:none}
@media (max-width:640px){
 body{padding:12px 14px}h1{font-size:21px}h2{font-size:18px;margin-top:28px}
 nav.toc ol{columns:1}.card{min-width:0;flex:1 1 40%}.card .v{font-size:21px}
 table.tz{font-size:12px}table.tz th{white-space:normal}table.tz td{min-width:4.5em}
 .tz-chart img{width:100%;height:auto}
}
@page{size:A4;margin:14mm 12mm}
@media print{
 body{max-width:none;padding:0;font-size:12px}nav.toc{display:none}
 h1,h2,h3{break-after:avoid;page-break-after:avoid}h2,h3{break-inside:avoid}
 table.tz{page-break-inside:auto;font-size:11px}table.tz thead{display:table-header-group}
 table.tz tr,img,.card{break-inside:avoid;page-break-inside:avoid}.tz-scroll{overflow:visible}
 .light{background:#fff!important;color:#202124!important;font-weight:600}
 .light-red{border-color:#d93025}.light-orange{border-color:#f28b00}.light-yellow{border-color:#f2c300}
 .light-green{border-color:#1e8e3e}.light-grey{border-color:#9aa0a6}
 a{color:inherit;text-decoration:none}
}
"""


# ---------------------------------------------------------------------------------------------------------------
# Small formatting helpers


def esc(value: Any) -> str:
    """Escape anything for HTML; missing values become an empty string."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def light_chip(light: Any, text: str | None = None) -> str:
    """A light as a chip whose text starts with its word (红, 橙, …): printed without background graphics or in
    black and white, the word still says which light it is."""
    if light not in LIGHT_LABELS:
        return ""
    word = LIGHT_LABELS[light]
    shown = word if not text else text if text.startswith(word) else f"{word} {text}"
    return f'<span class="light light-{light}" title="{esc(word)}">{esc(shown)}</span>'


def pct(value: Any, digits: int = 1) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{value * 100:.{digits}f}%"


def num(value: Any, digits: int = 2) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{value:,.{digits}f}"


def table(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    html_columns: Iterable[str] = (),
    numeric: Iterable[str] = (),
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    empty: str = "无",
) -> str:
    """An HTML table of `columns` (name → Chinese heading). Values are escaped, except in `html_columns`, whose
    cells the caller has built from escaped parts (light chips). Anything in a value that looks like a resident ID
    is masked (`mask_ids_in_text`): progress texts, file and sheet names are typed by units and may hold one."""
    if frame is None or not len(frame):
        return f'<p class="muted">{esc(empty)}</p>'
    html_columns, numeric = set(html_columns), set(numeric)
    formatters = formatters or {}
    head = "".join(f"<th>{esc(label)}</th>" for label in columns.values())
    body = []
    # only the shown columns turned into records: the frames passed often carry a dozen more
    shown_columns = [c for c in dict.fromkeys(columns) if c in frame.columns]
    for record in frame[shown_columns].to_dict("records"):
        cells = []
        for col in columns:
            value = record.get(col)
            if col in formatters:
                shown = esc(mask_ids_in_text(formatters[col](value)))
            elif col in html_columns:
                shown = "" if value is None else str(value)
            else:
                shown = esc(mask_ids_in_text(value))
            cls = ' class="num"' if col in numeric else ""
            cells.append(f"<td{cls}>{shown}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    # in a box of its own that scrolls sideways when the table is wider than a phone: the page never does
    return (f'<div class="tz-scroll"><table class="tz"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def cards(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{esc(v)}</div><div class="l">{esc(label)}</div></div>' for label, v in items
    ) + "</div>"


# ---------------------------------------------------------------------------------------------------------------
# Charts


def setup_fonts() -> str:
    """Register a CJK font shipped as a Python package (mplfonts' Noto Sans CJK SC) with matplotlib, so charts
    render Chinese on any machine without system fonts. Returns the font family name."""
    global _FONT_READY
    preparing = _PREPARING
    if preparing is not None and preparing is not threading.current_thread():
        preparing.join()     # pyplot's figures and the rcParams are shared: one thread draws at a time
    import matplotlib

    matplotlib.use("Agg") if not _in_notebook() else None
    from matplotlib import font_manager, rcParams

    family = "Noto Sans CJK SC"
    if not _FONT_READY:
        font_dir = _cjk_font_dir()
        for name in ("NotoSansCJKsc-Regular.otf",):
            path = font_dir / name if font_dir else None
            if path and path.is_file():
                font_manager.fontManager.addfont(str(path))
        _FONT_READY = True
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [family, "Noto Sans CJK JP", "WenQuanYi Micro Hei", "SimHei", "DejaVu Sans"]
    rcParams["axes.unicode_minus"] = False
    rcParams["text.parse_math"] = False     # a "$" in a label is a dollar sign, never mathtext (nor a parse error)
    rcParams["svg.hashsalt"] = "taizhang"
    rcParams["figure.dpi"] = 100
    return family


_PREPARING: threading.Thread | None = None


def prepare_charts(background: bool = False) -> None:
    """Load what a run's first chart would otherwise wait for: pyplot, and the CJK font read and its glyphs
    indexed (a few Chinese characters drawn). The kernel does this while `taizhang run` starts up; `background`:
    in a thread of its own, so that a first run starts reading at once (the first chart waits for it)."""
    global _PREPARING
    if background:
        _PREPARING = threading.Thread(target=_prepare_charts, name="taizhang-prepare-charts", daemon=True)
        _PREPARING.start()
    else:
        _prepare_charts()


def _prepare_charts() -> None:
    import matplotlib.pyplot as plt

    setup_fonts()
    fig = plt.figure(figsize=(1, 1))
    fig.text(0, 0, "台账图表 0.5%")
    fig.canvas.draw()
    plt.close(fig)


def _cjk_font_dir() -> Path | None:
    try:
        import mplfonts
    except ImportError:
        return None
    return Path(mplfonts.__file__).parent / "fonts"


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# Charts kept between runs


@dataclass(frozen=True)
class ChartImage:
    """A chart drawn already, as PNG, and laid out again for a phone's screen (`show` displays both, each where it
    fits, as it would the figure)."""

    png: bytes
    phone_png: bytes | None = None


PHONE_WIDTH = 4.6   # inches at the figures' 100 dpi: shown at a phone's ~360 px, its text stays at least 8 px


_CHART_CACHE = None   # what `kept_chart` draws through: an object with key, get and put (a ChartCache), or None


def use_chart_cache(cache):
    """Draw the `kept_chart` charts through `cache` (key, get and put, as `ChartCache` has) from now on (None:
    draw every one). Separate from `keep_charts`, which makes the cache: presenting a chart does not need to know
    where it is kept."""
    global _CHART_CACHE
    _CHART_CACHE = cache
    return cache


def kept_chart(fn: Callable) -> Callable:
    """A chart function whose chart is taken from the `keep_charts` folder when it was drawn from the same inputs
    before (a `ChartImage` is returned then, and for a chart drawn and kept now); without a cache, the figure."""

    @functools.wraps(fn)
    def chart(*args: Any, **kwargs: Any) -> Any:
        cache = _CHART_CACHE
        key = cache.key(fn, args, kwargs) if cache is not None else None
        if key is None:
            return fn(*args, **kwargs)
        png, phone_png = cache.get(key), cache.get(f"{key}-phone")
        if png is None or phone_png is None:
            fig = fn(*args, **kwargs)
            if fig is None:
                return None
            png, phone_png = _pngs(fig)
            cache.put(key, png)
            cache.put(f"{key}-phone", phone_png)
        return ChartImage(png, phone_png)

    return chart


@kept_chart
def lights_chart(status: pd.DataFrame, plan: Plan):
    """Stacked horizontal bars: lights per task list."""
    import matplotlib.pyplot as plt

    setup_fonts()
    lists = [lst.name for lst in plan.lists]
    fig, ax = plt.subplots(figsize=(8, 0.7 + 0.55 * len(lists)))
    left = [0] * len(lists)
    labels = []     # (text, light, segment start, segment width, row)
    for light in LIGHTS:
        counts = [int((status[(status["list"] == name)]["light"] == light).sum()) for name in lists]
        ax.barh(lists, counts, left=left, color=LIGHT_COLOURS[light], label=LIGHT_LABELS[light])
        for i, c in enumerate(counts):
            if c:
                text = ax.text(left[i] + c / 2, i, str(c), ha="center", va="center", fontsize=9,
                               color="#202124" if light == "yellow" else "white")
                labels.append((text, light, left[i], c, i))
        left = [a + b for a, b in zip(left, counts)]
    ax.set_xlabel("单位 × 任务数")
    ax.invert_yaxis()
    ax.legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("各清单状态灯分布", pad=28)
    fig.tight_layout()
    # a count wider than its segment would run into its neighbours': it moves to the end of the bar instead
    renderer = fig.canvas.get_renderer()
    moved: dict[int, list[str]] = {}
    for text, light, start, width, row in labels:
        (x0, _), (x1, _) = ax.transData.transform([(start, row), (start + width, row)])
        if text.get_window_extent(renderer).width + 4 > x1 - x0:
            text.remove()
            moved.setdefault(row, []).append(f"{LIGHT_LABELS[light]} {width}")
    right = ax.get_xlim()[1]
    for row, parts in moved.items():
        note = ax.text(left[row] + right * 0.01, row, " · ".join(parts), ha="left", va="center", fontsize=9,
                       color="#5f6368")
        end = ax.transData.inverted().transform(note.get_window_extent(renderer))[1][0]
        right = max(right, end * 1.02)
    ax.set_xlim(right=right)
    return fig


def legend_outside(ax, *others, key: Sequence[tuple[Any, str]] = (), above: bool = False) -> None:
    """Every labelled series of `ax` (and of `others`, a twin axis) in one legend outside the axes, right of them or
    `above`, where it covers no bar, line or limit whatever the values. `key`: (handle, label) pairs first, for what
    is not a series of its own (the bars' colours)."""
    handles, labels = [h for h, _ in key], [l for _, l in key]
    for axis in (ax, *others):
        found, names = axis.get_legend_handles_labels()
        # an artist standing for something not drawn (a limit far off the scale) has a label but is no series
        standing_for = [a for a in axis.artists if a.get_label() and not a.get_label().startswith("_")]
        found, names = found + standing_for, names + [a.get_label() for a in standing_for]
        handles, labels = handles + list(found), labels + list(names)
    if not handles:
        return
    if above:
        ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=min(len(handles), 4),
                  borderaxespad=0, frameon=False, fontsize=9)
    else:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False,
                  fontsize=9)


def show(fig) -> None:
    """Display a figure (or a `ChartImage`) once in a notebook and free it (the inline backend would otherwise show
    it twice): as one picture whose phone version, laid out for a narrow screen, a phone's browser shows instead."""
    from IPython.display import HTML, display

    image = fig if isinstance(fig, ChartImage) else ChartImage(*_pngs(fig))
    display(HTML(chart_html(image)))


def chart_html(image: ChartImage) -> str:
    """A chart as a self-contained <picture>: the phone layout below 640 px wide, else the desktop one."""
    import base64

    def uri(png: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    # a chart drawn no wider than a phone's layout has one image: not embedded twice
    phone = (f'<source media="(max-width:640px)" srcset="{uri(image.phone_png)}">'
             if image.phone_png and image.phone_png != image.png else "")
    return f'<picture class="tz-chart">{phone}<img src="{uri(image.png)}" alt="图表"></picture>'


def _pngs(fig) -> tuple[bytes, bytes]:
    """The figure as PNG, then laid out again `PHONE_WIDTH` wide (same fonts, so on a phone the text is not
    shrunk to nothing), and the figure freed."""
    import matplotlib.pyplot as plt

    desktop = _png(fig)
    width, height = fig.get_size_inches()
    phone = desktop
    if width > PHONE_WIDTH:
        rows = _legends_below(fig)
        fig.set_size_inches(PHONE_WIDTH, height + 0.2 * rows)
        _titles_fit(fig)
        fig.tight_layout()
        _titles_centred(fig)
        phone = _png(fig)
    plt.close(fig)
    return desktop, phone


def _titles_fit(fig) -> None:
    """Break a title wider than the figure into two lines (before its bracket, else in the middle)."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        title = ax.title
        text = title.get_text()
        if not text or "\n" in text or title.get_window_extent(renderer).width <= 0.94 * fig.bbox.width:
            continue
        cut = text.find("（")
        cut = cut if 0 < cut else len(text) // 2
        title.set_text(f"{text[:cut]}\n{text[cut:]}")


def _titles_centred(fig) -> None:
    """Centre each title on the figure rather than on its axes, which long bank names push right."""
    middle = fig.transFigure.transform((0.5, 0.0))
    for ax in fig.axes:
        if ax.title.get_text():
            ax.title.set_x(ax.transAxes.inverted().transform(middle)[0])


def _legends_below(fig) -> int:
    """Move each legend drawn outside its axes (`legend_outside`: right of them or above) below them, where a
    narrow screen has room for it: in two columns, or one when a label is long; returns the legend rows added."""
    from matplotlib.transforms import ScaledTranslation

    renderer = fig.canvas.get_renderer()
    rows = 0
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        anchor = legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted())
        if anchor.x0 < 1 and anchor.y0 < 1:
            continue
        handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        legend.remove()
        columns = 1 if max(len(label) for label in labels) > 12 else 2
        # below the tick labels and the axis label: as far below the axes' bottom as they reach now, in inches,
        # which stays so when the axes are laid out again
        reach = (ax.get_window_extent(renderer).y0 - ax.xaxis.get_tightbbox(renderer).y0) / fig.dpi + 0.08
        below = ax.transAxes + ScaledTranslation(0, -reach, fig.dpi_scale_trans)
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.0, 0.0), bbox_transform=below,
                  ncol=columns, borderaxespad=0, frameon=False, fontsize=9)
        rows += -(-len(handles) // columns)
    return rows


def _png(fig) -> bytes:
    """The figure as PNG. Saved as laid out by the chart (`tight_layout`), not cropped again: the inline
    backend's bbox_inches="tight" draws every figure twice. No software tag, so the same chart gives the same
    bytes."""
    import io

    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    # `tight_layout` leaves a placeholder layout engine behind, for which savefig draws the whole figure once
    # without rendering before drawing it for real; there is no layout left to do, so that pass is skipped
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine(None)
    buffer = io.BytesIO()
    # zlib level 3 rather than PIL's 6: on these flat-coloured charts it is about twice as fast and the files are
    # a little smaller (the pixels are the same: PNG is lossless)
    fig.savefig(buffer, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


def show_parts(parts: Iterable[Any]) -> None:
    """Display a section's parts in order: HTML strings as HTML, figures as images."""
    from IPython.display import HTML, display

    for part in parts:
        if isinstance(part, str):
            display(HTML(part))
        else:
            show(part)


@kept_chart
def trend_chart(history: pd.DataFrame):
    """Lights by colour over the year's cycles (history: cycle, light, count)."""
    import matplotlib.pyplot as plt

    setup_fonts()
    pivot = history.pivot_table(index="cycle", columns="light", values="count", aggfunc="sum", fill_value=0)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for light in LIGHTS:
        if light in pivot:
            ax.plot(pivot.index, pivot[light], marker="o", color=LIGHT_COLOURS[light], label=LIGHT_LABELS[light])
    ax.set_ylabel("单位 × 任务数")
    ax.set_title("状态灯随周期变化")
    legend_outside(ax)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------------
# Sections of the cycle report


def lists_in_report_order(plan: Plan) -> list:
    """Lists with dated milestones (the 重点清单) first, then the others, each kept in plan order."""
    return sorted(plan.lists, key=lambda lst: not any(t.dated_milestones for t in lst.tasks))


def title_block(plan: Plan, cycle: str, previous: str, note: str | None = None) -> str:
    parts = [f"<h1>{esc(plan.title)}</h1>",
             f'<p class="sub">双周台账报告 · 报送日 {esc(cycle)}（上期 {esc(previous)}）· 报送至 {esc(plan.meta.get("reporting_to", ""))}</p>']
    if note:
        parts.append(f'<p class="note">{esc(note)}</p>')
    return "".join(parts)


def headline(subs: pd.DataFrame, status: pd.DataFrame, plan: Plan | None = None) -> str:
    """按时报送率, lights by colour, and how many items got worse since the previous cycle; first, in a box, the
    warning of a cycle folder that holds few of the ledgers due."""
    sparse = sparse_cycle(plan, subs) if plan is not None else None
    warning = f'<p class="alert">⚠ {esc(sparse)}</p>' if sparse else ""
    counts = light_counts(status)
    due = len(subs)
    received = int(subs["received"].sum()) if due else 0
    on_time = on_time_rate(subs)
    worse = int(status["worse"].sum())
    items = [
        ("按时报送率", pct(on_time)),
        ("已收到台账", f"{received} / {due}"),
        ("较上期变差", f"{worse} 项"),
    ]
    chips = " ".join(light_chip(light, f"{LIGHT_LABELS[light]} {int(counts[light])}") for light in LIGHTS)
    return warning + cards(items) + f"<p>状态灯（单位 × 任务）：{chips}</p>"


def worse_table(status: pd.DataFrame, plan: Plan, limit: int = 30) -> str:
    worse = status[status["worse"]].copy()
    if not len(worse):
        return '<p class="muted">与上期相比没有变差的事项。</p>'
    worse = worse.assign(
        change=[f"{light_chip(p)} → {light_chip(c)}" for p, c in zip(worse["previous_light"], worse["light"])],
        task=[_task_label(plan, l, n) for l, n in zip(worse["list"], worse["task_no"])],
    )
    shown = worse.head(limit)
    more = f'<p class="muted">另有 {len(worse) - limit} 项未列出。</p>' if len(worse) > limit else ""
    return table(shown, {"unit": "单位", "task": "任务", "change": "变化", "reason": "原因"}, html_columns=["change"]) + more


def _task_label(plan: Plan, list_name: str, no: int) -> str:
    task = plan.task(list_name, int(no))
    short = task.text if len(task.text) <= 28 else task.text[:27] + "…"
    return f"{list_name}{task.display_no}：{short}"


def missing_table(subs: pd.DataFrame) -> str:
    missing = subs[~subs["received"]].assign(what="未报送", kind_label=lambda f: f["kind"].map(LEDGER_KIND_LABELS))
    late = subs[subs["received"] & (subs["on_time"] == False)].assign(  # noqa: E712 (nullable boolean)
        what=lambda f: "迟报（填报日期 " + f["report_date"].astype(str) + "）", kind_label=lambda f: f["kind"].map(LEDGER_KIND_LABELS))
    frame = pd.concat([missing, late], ignore_index=True)
    return table(frame, {"unit": "单位", "kind_label": "台账", "what": "情况", "files": "文件"},
                 empty="所有应报台账均已按时收到。")


def key_list_table(status: pd.DataFrame, plan: Plan, list_name: str) -> str:
    """A list with its milestones and, per task, each responsible unit's light (lead first)."""
    tasks = plan.tasks_frame()
    tasks = tasks[tasks["list"] == list_name]
    rows = []
    by_task = _rows_by_task(status, list_name)
    for task in tasks.itertuples():
        mine = by_task.get(task.task_no, status.iloc[0:0])
        chips = " ".join(light_chip(r.light, r.unit) for r in mine.itertuples())
        worst = _worst(mine["light"])
        milestones = [esc(m) for m in task.milestones.split("；")] if task.milestones else []
        rows.append({
            "no": task.label, "group": task.group, "text": task.text,
            # in a block at least 10em wide: the units' chips beside it would squeeze it to a few characters a line
            "milestones": '<div class="milestones">' + ("<br>".join(milestones) or ("持续推进" if task.ongoing else "—"))
                          + "</div>",
            "worst": light_chip(worst) if worst else "", "units": chips,
        })
    return table(pd.DataFrame(rows), {"no": "序号", "group": "工作要求", "text": "主要任务", "milestones": "节点",
                                      "worst": "最差", "units": "各责任单位"}, html_columns=["milestones", "worst", "units"])


def _rows_by_task(status: pd.DataFrame, list_name: str) -> dict[Any, pd.DataFrame]:
    """task_no → the list's rows of that task, in order (split once, not filtered out of the table per task)."""
    return dict(tuple(status[status["list"] == list_name].groupby("task_no", sort=False)))


def by_measure_table(status: pd.DataFrame, plan: Plan, list_name: str) -> str:
    """A list grouped by measure: per task, the lead units' lights by name first, then the counts of each light
    across the other responsible units."""
    tasks = plan.tasks_frame()
    tasks = tasks[tasks["list"] == list_name]
    numerals = {m.no: f"{m.numeral}、{m.title}" for m in plan.measures}
    rows = []
    by_task = _rows_by_task(status, list_name)
    for task in tasks.sort_values(["measure", "task_no"], na_position="last", kind="stable").itertuples():
        mine = by_task.get(task.task_no, status.iloc[0:0])
        lead = mine[mine["role"] == ROLE_LEAD]
        others = mine[mine["role"] != ROLE_LEAD]["light"].value_counts()
        chips = " ".join(light_chip(r.light, f"牵头 {r.unit}") for r in lead.itertuples())
        counts = " ".join(light_chip(light, f"{LIGHT_LABELS[light]} {int(others[light])}") for light in LIGHTS
                          if others.get(light, 0))
        rows.append({"measure": numerals.get(task.measure, "—") if not pd.isna(task.measure) else "—",
                     "no": task.label, "text": task.text, "lead": chips, "lights": counts})
    return table(pd.DataFrame(rows), {"measure": "对应措施", "no": "序号", "text": "主要任务", "lead": "牵头单位",
                                      "lights": "责任单位状态灯"}, html_columns=["lead", "lights"])


def red_orange_table(status: pd.DataFrame, plan: Plan, limit: int = 12, units_folder: str | None = "units") -> str:
    """Red and orange items grouped by task, most red first: one row per task (a 全面清单 task and its 重点清单
    twin are one), its lights counted and the units behind it as chips linking to their pages in `units_folder`
    (relative to the report; None: no links). At most `limit` tasks; the rest are counted."""
    from .task_labels import task_key, task_title
    from .templates import safe_file_name, short_name

    bad = status[status["light"].isin(["red", "orange"])]
    if not len(bad):
        return '<p class="muted">没有红灯或橙灯事项。</p>'
    order = {(t.list_name, t.no): i for i, t in enumerate(plan.tasks)}
    bad = bad.assign(key=[task_key(plan, l, n) for l, n in zip(bad["list"], bad["task_no"])],
                     _sev=bad["light"].map({"red": 0, "orange": 1}))
    # twins of one unit: the worse light counts once
    bad = bad.sort_values(["_sev"], kind="stable").drop_duplicates(["unit_id", "key"])
    rows = []
    for key, part in bad.groupby("key", sort=False):
        part = part.sort_values(["_sev", "unit"], kind="stable")
        units = []
        for r in part.itertuples():
            try:
                unit = plan.unit(r.unit_id)
                chip = light_chip(r.light, short_name(unit))
                href = f"{units_folder}/{safe_file_name(unit.name)}.html" if units_folder else None
            except KeyError:
                chip, href = light_chip(r.light, str(r.unit)), None
            units.append(f'<a href="{esc(quote(href, safe="/-._~"))}" title="{esc(r.unit)}">{chip}</a>' if href else chip)
        counts = part["light"].value_counts()
        rows.append({"task": task_title(plan, key, 40), "_red": int(counts.get("red", 0)),
                     "_n": len(part), "_order": order.get(key, 0),
                     "lights": " ".join(light_chip(l, f"{LIGHT_LABELS[l]} {int(counts[l])}") for l in ("red", "orange")
                                        if counts.get(l)),
                     "units": " ".join(units)})
    frame = pd.DataFrame(rows).sort_values(["_red", "_n", "_order"], ascending=[False, False, True], kind="stable")
    shown = frame.head(limit)
    more = ""
    if len(frame) > limit:
        rest = frame.iloc[limit:]
        more = (f'<p class="muted">另有 {len(rest)} 项任务（{int(rest["_n"].sum())} 个单位 × 任务）未列出，'
                "详见各单位反馈页。</p>")
    intro = (f'<p>共 {len(frame)} 项任务、{len(bad)} 个单位 × 任务为红灯或橙灯（全面清单与重点清单的同一任务合并计）；'
             "点击单位查看其反馈页。</p>")
    return intro + table(shown, {"task": "任务", "lights": "灯", "units": "单位"}, html_columns=["lights", "units"]) + more


def copied_table(status: pd.DataFrame, plan: Plan) -> str:
    copied = status[status["copied"]].copy()
    copied = copied.assign(task=[_task_label(plan, l, n) for l, n in zip(copied["list"], copied["task_no"])])
    return table(copied, {"unit": "单位", "task": "任务", "progress": "本期与上期相同的进展内容"},
                 empty="未发现与上期完全相同的进展内容。")


def findings_table(findings: pd.DataFrame, limit: int | None = None) -> str:
    if findings is None or not len(findings):
        return '<p class="muted">没有发现数据问题。</p>'
    frame = findings.assign(
        sev=findings["severity"].map(lambda s: f'<span class="sev-{esc(s)}">{esc(SEVERITY_LABELS.get(s, s))}</span>'),
        place=[record_place_text(r) for r in findings.to_dict("records")],
        message=findings["message"].map(mask_ids_in_text),
    )
    if limit is not None:
        frame = frame.head(limit)
    return table(frame, {"sev": "级别", "unit": "单位", "place": "位置", "message": "问题"}, html_columns=["sev"])


def findings_summary(findings: pd.DataFrame) -> str:
    if findings is None or not len(findings):
        return '<p class="muted">没有发现数据问题。</p>'
    counts = findings_counts(findings)
    return table(counts, {c: c for c in counts.columns}, numeric=["条数"])


# ---------------------------------------------------------------------------------------------------------------
# What the stage notebooks (01–03) show after their stage: small frames with Chinese headings and values


def findings_counts(findings: pd.DataFrame | None) -> pd.DataFrame:
    """级别, 类别 (the code's Chinese name) and 条数 of a findings table, most severe first."""
    columns = ["级别", "类别", "条数"]
    if findings is None or not len(findings):
        return pd.DataFrame(columns=columns)
    counts = findings.groupby(["severity", "code"], sort=False).size().reset_index(name="n")
    counts = counts.assign(_s=counts["severity"].map({s: i for i, s in enumerate(SEVERITIES)}))
    counts = counts.sort_values(["_s", "n"], ascending=[True, False], kind="stable")
    return pd.DataFrame({"级别": counts["severity"].map(SEVERITY_LABELS).to_numpy(),
                         "类别": counts["code"].map(code_label).to_numpy(), "条数": counts["n"].to_numpy()})


def ingest_overview(done: pd.DataFrame) -> pd.DataFrame:
    """`pipeline.ingest`'s table: each cycle of the year so far, its files and whether they were read."""
    return done.rename(columns={"cycle": "周期", "files": "文件数", "action": "处理"})


def files_overview(files: pd.DataFrame | None) -> pd.DataFrame:
    """How many of the cycle's files were recognised as each kind of ledger, and how their sender was found."""
    if files is None or not len(files):
        return pd.DataFrame(columns=["台账类型", "填报单位识别依据", "文件数"])
    kinds = [("、".join(LEDGER_KIND_LABELS.get(k, k) for k in str(text).split(",") if k) if isinstance(text, str)
              else "") or "未识别" for text in files["kinds"]]
    sources = ["未识别" if not isinstance(s, str) or not s else s for s in files["unit_source"]]
    counts = pd.DataFrame({"台账类型": kinds, "填报单位识别依据": sources})
    return counts.groupby(["台账类型", "填报单位识别依据"]).size().rename("文件数").reset_index()


def submissions_overview(submissions: pd.DataFrame) -> pd.DataFrame:
    """Per kind of ledger: units expected to send one, received, on time, late, missing."""
    rows = []
    for kind, label in LEDGER_KIND_LABELS.items():
        part = submissions[submissions["kind"] == kind]
        if not len(part):
            continue
        received = part["received"].astype(bool)
        on_time = part["on_time"].astype("boolean")
        rows.append({"台账": label, "应报单位": len(part), "已收到": int(received.sum()),
                     "按时": int((on_time == True).sum()), "迟报": int((received & (on_time == False)).sum()),  # noqa: E712
                     "未收到": int((~received).sum())})
    return pd.DataFrame(rows, columns=["台账", "应报单位", "已收到", "按时", "迟报", "未收到"])


def lights_overview(task_status: pd.DataFrame, by: str = "list") -> pd.DataFrame:
    """Lights per task list (`by="list"`) or per unit (`by="unit"`, most red first): one column per light."""
    heading = {"list": "清单", "unit": "单位"}[by]
    counts = (task_status.groupby([by, "light"]).size().unstack(fill_value=0)
              .reindex(columns=list(LIGHTS), fill_value=0))
    if by == "unit":
        counts = counts.sort_values(list(LIGHTS[:2]), ascending=False, kind="stable")
    counts.columns = [LIGHT_LABELS[c] for c in counts.columns]
    counts.index.name = heading
    return counts.assign(合计=counts.sum(axis=1))


def _worst(lights: pd.Series) -> str | None:
    order = {"red": 0, "orange": 1, "yellow": 2, "green": 3, "grey": 4}
    present = [l for l in lights if l in order]
    return min(present, key=order.__getitem__) if present else None


def page(body: str, title: str) -> str:
    """A whole self-contained HTML page around `body` (no script, no external resource)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


_H2 = re.compile(r"<h2\b([^>]*)>(.*?)</h2>", re.S)
_TAG = re.compile(r"<[^>]+>")
_ID_ATTR = re.compile(r'\s+id="[^"]*"')


def with_contents(body: str) -> str:
    """`body` with an id on every section heading (h2) and a short table of contents before the first: a leader on
    a phone reaches the lending section without scrolling past everything before it."""
    entries = []

    def number(match: re.Match) -> str:
        anchor = f"s{len(entries) + 1}"
        entries.append((anchor, _TAG.sub("", match.group(2)).strip()))
        return f'<h2 id="{anchor}"{_ID_ATTR.sub("", match.group(1))}>{match.group(2)}</h2>'

    body = _H2.sub(number, body)
    if len(entries) < 2:
        return body
    items = "".join(f'<li><a href="#{anchor}">{text}</a></li>' for anchor, text in entries)
    nav = f'<nav class="toc" aria-label="目录"><strong>目录</strong><ol>{items}</ol></nav>'
    first = body.find('<h2 id="s1"')
    # before the cell that holds the first heading (nbconvert wraps each cell in a div of its own)
    start = body.rfind('<div id="cell-id=', 0, first)
    at = start if start >= 0 else first
    return body[:at] + nav + body[at:]
