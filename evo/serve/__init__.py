"""``evo serve``: a live web page of the runs and sweeps under a folder.

The page lists every run and sweep and shows the one chosen as it goes: best, mean and
median fitness with their spread against generations, time, evaluations or episodes; the
newest generation's fitness histogram; evaluations per second and workers; the events;
a sweep's settings x seeds table; the link to a running run's Dask dashboard. It reads
the run folders with the reader behind ``evo inspect`` and never writes to them.
"""

from __future__ import annotations

from evo.serve.server import LiveServer

__all__ = ["LiveServer"]
