"""The live view of a sweep: its settings x seeds table and every run's best-so-far curve."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Div, HoverTool, Legend
from bokeh.palettes import Colorblind8
from bokeh.plotting import figure

from evo.errors import RunFolderError
from evo.runlog import CONFIG
from evo.serve.catalog import sweep_table
from evo.serve.runs import RecordCache, dashboard_link, series, signature
from evo.serve.style import sheet
from evo.sweep import SWEEP, SweepFolder

_DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot")


class SweepView:
    """Bokeh models showing one sweep folder, brought up to date by :meth:`update`."""

    def __init__(self, path: Path, key: str, cache: RecordCache) -> None:
        self.path, self.key, self.cache = path, key, cache
        self._seen: tuple | None = None
        self.header = Div(name="header", sizing_mode="stretch_width", stylesheets=[sheet()])
        self.table = Div(name="sweep_table", sizing_mode="stretch_width", stylesheets=[sheet()])
        self.links = Div(name="sweep_runs", sizing_mode="stretch_width")
        self.curves = figure(
            name="sweep_fitness",
            height=420,
            sizing_mode="stretch_width",
            title="best so far of every run (a colour per setting, a dash per seed)",
            x_axis_label="generation",
            y_axis_label="best so far",
            tools="pan,wheel_zoom,box_zoom,reset,save",
        )
        self.curves.add_tools(
            HoverTool(
                tooltips=[
                    ("run", "$name"),
                    ("generation", "@generation{0}"),
                    ("best so far", "@best_so_far{0.00}"),
                ]
            )
        )
        self.curves.add_layout(Legend(click_policy="hide", location="top_left"), "right")
        self._sources: dict[str, ColumnDataSource] = {}
        self._signatures: dict[str, tuple] = {}
        self.layout = column(
            self.header,
            Div(
                text="<b>settings x seeds</b>: a finished run's final score, a running "
                "one's generation and best so far"
            ),
            self.table,
            self.curves,
            self.links,
            sizing_mode="stretch_width",
        )

    def update(self, force: bool = False) -> None:
        """Read the sweep and its runs again where they changed, and redraw."""
        mark = (_stat(self.path / SWEEP), *(signature(p) for p in self._run_paths()))
        if mark == self._seen and not force:
            return
        self._seen = mark
        try:
            sweep = SweepFolder.open(self.path)
            table = sweep_table(self.path, self.key, self.cache)
        except RunFolderError as exc:
            self.header.text = f"<h2>{html.escape(self.key)}</h2><p>{html.escape(str(exc))}</p>"
            return
        self._table(table)
        self._runs(sweep, table)
        self.header.text = _header(sweep, self._dashboard(sweep))

    def _dashboard(self, sweep: SweepFolder) -> str | None:
        """The Dask dashboard the sweep's runs share, while the sweep runs."""
        if sweep.record.get("status") != "running":
            return None
        for path in reversed(self._run_paths()):
            try:
                link = dashboard_link(self.cache.read(path))
            except RunFolderError:
                continue
            if link:
                return link
        return None

    def _run_paths(self) -> list[Path]:
        return sorted(path.parent for path in self.path.glob(f"*/{CONFIG}"))

    def _table(self, table: Any) -> None:
        # An HTML table, each run's cell a link to it (a DataTable whose rows keep their
        # number did not redraw when its cells changed).
        seeds = list(table.seeds)
        head = "".join(f"<th>{html.escape(title)}</th>" for title in _titles(seeds))
        rows = []
        for row in table.rows:
            setting = row["setting"]
            cells = [f"<td>{html.escape(setting)}</td>"]
            for seed in seeds:
                text = html.escape(row.get(seed, "-"))
                key = table.links.get(setting, {}).get(seed)
                link = f"<a href='?run={quote(key)}'>{text}</a>" if key else text
                cells.append(f"<td class='evo-cell'>{link}</td>")
            cells += [f"<td>{html.escape(row[name])}</td>" for name in ("finished", "median")]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        self.table.text = f"<table class='evo-grid'><tr>{head}</tr>{''.join(rows)}</table>"

    def _runs(self, sweep: SweepFolder, table: Any) -> None:
        links = []
        for number, (setting, keys) in enumerate(table.runs.items()):
            colour = Colorblind8[number % len(Colorblind8)]
            for index, key in enumerate(keys):
                folder = key.rsplit("/", 1)[-1]
                links.append(f"<a href='?run={quote(key)}'>{html.escape(folder)}</a>")
                self._curve(sweep.path / folder, key, setting, colour, _DASHES[index % 5])
        self.links.text = "<b>runs</b>: " + " &middot; ".join(links)

    def _curve(self, path: Path, key: str, setting: str, colour: str, dash: str) -> None:
        if not (path / CONFIG).is_file():
            return
        mark = signature(path)
        if self._signatures.get(key) == mark:
            return
        self._signatures[key] = mark
        try:
            data = series(self.cache.read(path).metrics)
        except RunFolderError:
            return
        data = {name: data[name] for name in ("generation", "best_so_far", "fitness_mean")}
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = ColumnDataSource(data, name=f"sweep_run:{key}")
            self.curves.line(
                "generation",
                "best_so_far",
                source=source,
                color=colour,
                line_dash=dash,
                line_width=2,
                legend_label=setting,
                name=path.name,
            )
        else:
            source.data = data


def _titles(seeds: list[str]) -> list[str]:
    return ["setting", *(f"seed {seed}" for seed in seeds), "finished", "median"]


def _header(sweep: SweepFolder, dashboard: str | None) -> str:
    record = sweep.record
    grid = "; ".join(
        f"{html.escape(str(key))} = {html.escape(', '.join(map(str, values)))}"
        for key, values in (record.get("grid") or {}).items()
    )
    seeds = ", ".join(map(str, record.get("seeds", [])))
    status = html.escape(str(record.get("status", "unknown")))
    return (
        f"<h2 style='margin:0'>sweep {html.escape(str(record.get('name', sweep.path.name)))}</h2>"
        f"<p style='margin:2px 0;color:#555'>{html.escape(str(sweep.path))}</p>"
        f"<p><span class='evo-status evo-{status}'>{status}</span> &middot; "
        f"config {html.escape(str(record.get('config', '?')))} &middot; grid {grid or '-'}"
        f" &middot; seeds {html.escape(seeds)}"
        + (
            f" &middot; <a href='{html.escape(dashboard)}' target='_blank'>Dask dashboard</a>"
            if dashboard
            else ""
        )
        + "</p>"
    )


def _stat(path: Path) -> tuple | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns)
