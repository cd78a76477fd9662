"""The page of ``evo serve``: the runs and sweeps under the folder, and the one chosen
(``?run=KEY``, else the newest), brought up to date every poll."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from bokeh.document import Document
from bokeh.layouts import column, row
from bokeh.models import Div

from evo.serve.catalog import Entry, entries, kind_of
from evo.serve.run_view import RunView
from evo.serve.runs import RecordCache
from evo.serve.style import sheet
from evo.serve.sweep_view import SweepView


def resolve(root: Path, key: str | None) -> tuple[Path, str] | None:
    """The folder ``key`` names under ``root`` (never outside it), or None."""
    if key is None:
        return None
    path = (root / key).resolve()
    if not path.is_relative_to(root.resolve()) or kind_of(path) is None:
        return None
    return path, key


def make_document(root: Path, cache: RecordCache, interval_ms: int) -> Callable[[Document], None]:
    """The Bokeh application's function: fills each new browser session's document."""

    def fill(doc: Document) -> None:
        request = doc.session_context.request if doc.session_context else None
        arguments = request.arguments if request is not None else {}
        asked = arguments.get("run", [b""])[0].decode("utf-8", "replace") or None
        Page(root, cache, asked).attach(doc, interval_ms)

    return fill


class Page:
    """One browser session's page: the listing on the left, the chosen view beside it."""

    def __init__(self, root: Path, cache: RecordCache, asked: str | None) -> None:
        self.root, self.cache, self.asked = root, cache, asked
        self.view: RunView | SweepView | None = None
        self.nav = Div(name="runs", width=330, stylesheets=[sheet()])
        self.main = column(Div(text=""), sizing_mode="stretch_width", name="main")
        self.layout = row(
            column(Div(text="<h3 style='margin:0'>evo runs</h3>"), self.nav, width=340),
            self.main,
            sizing_mode="stretch_width",
        )

    def attach(self, doc: Document, interval_ms: int) -> None:
        """Put the page in ``doc`` and poll the folder every ``interval_ms``."""
        doc.title = f"evo · {self.root.name or self.root}"
        doc.add_root(self.layout)
        self.poll()
        doc.add_periodic_callback(self.poll, interval_ms)

    def poll(self) -> None:
        """List the folder again, pick the view if none yet, and bring it up to date."""
        found = entries(self.root, self.cache)
        if self.view is None:
            self._choose(found)
        self.nav.text = _listing(self.root, found, self.view.key if self.view else None)
        if self.view is not None:
            self.view.update()

    def _choose(self, found: list[Entry]) -> None:
        chosen = resolve(self.root, self.asked)
        if chosen is None and self.asked is not None:
            self.main.children = [
                Div(
                    text=f"<p>no run or sweep {html.escape(self.asked)!s} "
                    f"under {html.escape(str(self.root))}</p>"
                )
            ]
            return
        if chosen is None and found:
            chosen = (self.root / found[0].key).resolve(), found[0].key
        if chosen is None:
            self.main.children = [Div(text=_empty(self.root))]
            return
        path, key = chosen
        view_class = SweepView if kind_of(path) == "sweep" else RunView
        self.view = view_class(path, key, self.cache)
        self.main.children = [self.view.layout]


def _listing(root: Path, found: list[Entry], chosen: str | None) -> str:
    stamp = time.strftime("%H:%M:%S")
    head = f"<p style='color:#555'>{html.escape(str(root))}<br>read at {stamp}</p>"
    if not found:
        return head + "<p>(no runs yet)</p>"
    return head + "<ul>" + "".join(_item(entry, chosen) for entry in found) + "</ul>"


def _item(entry: Entry, chosen: str | None) -> str:
    mark = " class='evo-chosen'" if entry.key == chosen else ""
    status = f"<span class='evo-status evo-{entry.status}'>{html.escape(entry.status)}</span>"
    link = f"<a href='?run={quote(entry.key)}'>{html.escape(_title(entry))}</a>"
    if entry.kind == "sweep":
        runs = "".join(_item(run, chosen) for run in entry.runs)
        return f"<li{mark}>sweep {link} {status}<ul>{runs}</ul></li>"
    planned = f"/{entry.planned}" if isinstance(entry.planned, int) else ""
    best = "" if math.isnan(entry.best) else f", best {entry.best:.2f}"
    progress = f"<br><small>gen {entry.generations}{planned}{best}</small>"
    return f"<li{mark}>{link} {status}{progress}</li>"


def _title(entry: Entry) -> str:
    return entry.key.rsplit("/", 1)[-1] if entry.key != "." else entry.name


def _empty(root: Path) -> str:
    return (
        f"<p>No runs under {html.escape(str(root))} yet. Start one, e.g. "
        f"<code>evo run configs/cartpole-es.yaml --runs-dir {html.escape(str(root))}</code>; "
        "it appears here on its own.</p>"
    )
