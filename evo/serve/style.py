"""The page's style sheet: status badges, the listing, the summary table.

Bokeh draws every widget in a shadow DOM of its own, so a style reaches a widget only
through the widget's ``stylesheets``; a model belongs to one document, hence one sheet per
widget and session.
"""

from __future__ import annotations

from bokeh.models import InlineStyleSheet

CSS = """
.evo-status { padding: 1px 7px; border-radius: 8px; background: #ddd; font-weight: bold; }
.evo-running { background: #cde8cd; } .evo-finished { background: #d6e4f5; }
.evo-failed, .evo-unreadable { background: #f6d0cc; }
.evo-interrupted, .evo-unfinished, .evo-pending { background: #f3e3c0; }
ul { list-style: none; padding-left: 0.8em; margin: 0.2em 0; }
li { margin: 0.25em 0; } a { text-decoration: none; }
.evo-chosen > a { font-weight: bold; text-decoration: underline; }
.evo-summary td { padding: 0 1em 0 0; font-family: monospace; }
.evo-grid { border-collapse: collapse; font-size: 13px; }
.evo-grid th, .evo-grid td { border-bottom: 1px solid #ddd; padding: 4px 14px 4px 4px;
  text-align: left; }
.evo-grid th { background: #f4f4f4; } .evo-cell { font-family: monospace; }
"""


def sheet() -> InlineStyleSheet:
    """A new style sheet for one widget."""
    return InlineStyleSheet(css=CSS)
