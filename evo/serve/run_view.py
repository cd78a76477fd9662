"""The live view of one run: fitness curves with their spread, the newest generation's
histogram, evaluations per second and workers, events, and the run's Dask dashboard."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    Div,
    HoverTool,
    Legend,
    LinearAxis,
    RadioButtonGroup,
    Range1d,
    TableColumn,
)
from bokeh.plotting import figure

from evo.errors import RunFolderError
from evo.runlog import RunRecord
from evo.serve.runs import (
    X_AXES,
    RecordCache,
    dashboard_link,
    event_marks,
    events,
    histogram,
    overview,
    series,
    signature,
)
from evo.serve.style import sheet

# Colours that stay apart in greyscale too (dark to light), and a line style each.
BEST, MAX, MEAN, MEDIAN = "#1b1b1b", "#1f5fa8", "#c0392b", "#e69f00"
BAND = "#1f5fa8"


class RunView:
    """Bokeh models showing one run folder, brought up to date by :meth:`update`."""

    def __init__(self, path: Path, key: str, cache: RecordCache) -> None:
        self.path, self.key, self.cache = path, key, cache
        self._seen: tuple | None = None
        self.header = Div(name="header", sizing_mode="stretch_width", stylesheets=[sheet()])
        self.axis = RadioButtonGroup(labels=list(X_AXES.values()), active=0, name="x_axis")
        self.axis.on_change("active", lambda _attr, _old, _new: self.update(force=True))
        self.curves = ColumnDataSource(series([]) | {"x": []}, name="fitness_source")
        self.marks = ColumnDataSource({"x": [], "y": [], "event": []}, name="event_marks")
        self.bins = ColumnDataSource({"left": [], "right": [], "count": []}, name="histogram")
        self.table = ColumnDataSource({"time_s": [], "event": [], "generation": [], "details": []})
        self.fitness = self._fitness_figure()
        self.spread = self._histogram_figure()
        self.throughput = self._throughput_figure()
        self.events = DataTable(
            source=self.table,
            name="events",
            columns=[
                TableColumn(field="time_s", title="time (s)", width=70),
                TableColumn(field="event", title="event", width=170),
                TableColumn(field="generation", title="gen", width=50),
                TableColumn(field="details", title="details", width=600),
            ],
            height=220,
            sizing_mode="stretch_width",
            index_position=None,
        )
        self.summary = Div(name="summary", sizing_mode="stretch_width", stylesheets=[sheet()])
        self.layout = column(
            self.header,
            row(Div(text="<b>x axis</b>"), self.axis),
            self.fitness,
            row(self.spread, self.throughput, sizing_mode="stretch_width"),
            Div(text="<b>events</b> (newest first)"),
            self.events,
            self.summary,
            sizing_mode="stretch_width",
        )

    def _fitness_figure(self) -> Any:
        plot = figure(
            name="fitness",
            height=380,
            sizing_mode="stretch_width",
            title="fitness",
            x_axis_label="generation",
            y_axis_label="fitness",
            tools="pan,wheel_zoom,box_zoom,reset,save",
        )
        plot.add_layout(Legend(click_policy="hide", location="top_left"), "right")
        source = self.curves
        plot.varea(
            "x",
            "fitness_min",
            "fitness_max",
            source=source,
            fill_color=BAND,
            fill_alpha=0.12,
            legend_label="min - max",
        )
        plot.varea(
            "x",
            "std_low",
            "std_high",
            source=source,
            fill_color=BAND,
            fill_alpha=0.28,
            legend_label="mean ± std",
        )
        plot.line(
            "x",
            "fitness_max",
            source=source,
            color=MAX,
            line_width=1.5,
            line_dash="dotted",
            legend_label="max",
        )
        plot.line(
            "x",
            "fitness_median",
            source=source,
            color=MEDIAN,
            line_width=1.5,
            line_dash="dashed",
            legend_label="median",
        )
        plot.line("x", "fitness_mean", source=source, color=MEAN, line_width=2, legend_label="mean")
        best = plot.line(
            "x",
            "best_so_far",
            source=source,
            color=BEST,
            line_width=2.5,
            legend_label="best so far",
        )
        plot.scatter(
            "x",
            "y",
            source=self.marks,
            marker="inverted_triangle",
            size=9,
            color="#6a3d9a",
            legend_label="events",
        )
        plot.add_tools(_fitness_hover(best))
        return plot

    def _histogram_figure(self) -> Any:
        plot = figure(
            name="histogram_figure",
            height=280,
            sizing_mode="stretch_width",
            title="fitness of the newest generation",
            x_axis_label="fitness",
            y_axis_label="members",
            tools="pan,wheel_zoom,reset,save",
        )
        plot.quad(
            top="count",
            bottom=0,
            left="left",
            right="right",
            source=self.bins,
            fill_color=BAND,
            fill_alpha=0.7,
            line_color="white",
        )
        plot.add_tools(
            HoverTool(tooltips=[("fitness", "@left{0.00} to @right{0.00}"), ("members", "@count")])
        )
        return plot

    def _throughput_figure(self) -> Any:
        plot = figure(
            name="throughput",
            height=280,
            sizing_mode="stretch_width",
            title="evaluations per second and workers",
            x_axis_label="time (s)",
            y_axis_label="evaluations / s",
            tools="pan,wheel_zoom,reset,save",
        )
        plot.line(
            "time_s",
            "evaluations_per_s",
            source=self.curves,
            color=MAX,
            line_width=2,
        )
        plot.extra_y_ranges = {"workers": Range1d(0, 1)}
        # No legend over the curves: each axis label is in its curve's colour and dash.
        plot.yaxis.axis_label_text_color = MAX
        workers = LinearAxis(y_range_name="workers", axis_label="workers (dashed)")
        workers.axis_label_text_color = MEDIAN
        plot.add_layout(workers, "right")
        plot.step(
            "time_s",
            "workers",
            source=self.curves,
            y_range_name="workers",
            mode="after",
            color=MEDIAN,
            line_width=2,
            line_dash="dashed",
        )
        return plot

    def update(self, force: bool = False) -> None:
        """Read the run again if any of its files changed (or ``force``) and redraw."""
        mark = signature(self.path)
        if mark == self._seen and not force:
            return
        self._seen = mark
        try:
            record = self.cache.read(self.path)
        except RunFolderError as exc:
            self.header.text = f"<h2>{html.escape(self.key)}</h2><p>{html.escape(str(exc))}</p>"
            return
        self._curves(record)
        self._histogram(record)
        columns = events(record)
        self.table.data = {name: values[::-1] for name, values in columns.items()}
        self.header.text = _header(record, self.key)
        self.summary.text = _summary(record)

    def _curves(self, record: RunRecord) -> None:
        data = series(record.metrics)
        axis = list(X_AXES)[self.axis.active]
        data["x"] = data[axis]
        self.fitness.xaxis.axis_label = X_AXES[axis]
        rows = len(data["x"])
        # The whole columns, not a stream of the new rows: a stream sent between a page's
        # creation and its browser's first pull reached the browser twice.
        self.curves.data = data
        marks = event_marks(record)
        xs, ys = [], []
        for generation in marks["generation"]:
            index = int(generation) - 1
            inside = 0 <= index < rows
            xs.append(data["x"][index] if inside else math.nan)
            ys.append(data["fitness_mean"][index] if inside else math.nan)
        self.marks.data = {"x": xs, "y": ys, "event": marks["event"]}
        workers = [value for value in data["workers"] if not math.isnan(value)]
        self.throughput.extra_y_ranges["workers"].end = max(workers, default=0) + 1

    def _histogram(self, record: RunRecord) -> None:
        found = histogram(record)
        if found is None:
            self.spread.title.text = "no per-member fitness recorded (no lineage)"
            self.bins.data = {"left": [], "right": [], "count": []}
            return
        failed = f", {found.failed} failed" if found.failed else ""
        self.spread.title.text = (
            f"fitness of generation {found.generation}: {found.members} members{failed}"
        )
        self.bins.data = {"left": found.left, "right": found.right, "count": found.counts}


def _fitness_hover(best: Any) -> HoverTool:
    """The fitness plot's tooltip: every curve's value at the generation under the mouse."""
    return HoverTool(
        renderers=[best],
        mode="vline",
        tooltips=[
            ("generation", "@generation{0}"),
            ("best so far", "@best_so_far{0.00}"),
            (
                "max / mean / median",
                "@fitness_max{0.00} / @fitness_mean{0.00} / @fitness_median{0.00}",
            ),
            ("min", "@fitness_min{0.00}"),
            ("evaluations", "@evaluations{0}"),
            ("time", "@time_s{0.0} s"),
        ],
    )


def _header(record: RunRecord, key: str) -> str:
    seen = overview(record)
    planned = f" of {seen['planned']}" if isinstance(seen["planned"], int) else ""
    best = "-" if math.isnan(seen["best"]) else f"{seen['best']:.2f}"
    parts = [
        f"<span class='evo-status evo-{seen['status']}'>{seen['status']}</span>",
        f"generation <b class='evo-generation'>{seen['generations']}</b>{planned}",
        f"best so far <b>{best}</b>",
    ]
    link = dashboard_link(record)
    if link and seen["status"] == "running":
        parts.append(f"<a href='{html.escape(link)}' target='_blank'>Dask dashboard</a>")
    return (
        f"<h2 style='margin:0'>{html.escape(seen['name'])}</h2>"
        f"<p style='margin:2px 0;color:#555'>{html.escape(str(record.path))}"
        f" &middot; <code>evo inspect {html.escape(key if key != '.' else str(record.path))}</code>"
        f"</p><p style='font-size:1.1em'>{' &middot; '.join(parts)}</p>"
    )


def _summary(record: RunRecord) -> str:
    if record.summary is None:
        return ""
    cells = "".join(
        f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(_plain(value))}</td></tr>"
        for key, value in record.summary.items()
    )
    return f"<b>summary</b><table class='evo-summary'>{cells}</table>"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.6g}"
    return "-" if value is None else str(value)
