"""The table and figures of ``evo bench suite``, written into a Markdown file between
markers, so that the rest of the file stays as it was written."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from evo.bench.suite import Outcome, Task, median_or_none
from evo.errors import ConfigError
from evo.files import atomic_write_text

BEGIN = "<!-- evo bench suite: begin (written by `evo bench suite`; edits here are overwritten) -->"
END = "<!-- evo bench suite: end -->"

_HEADER = [
    "task",
    "config",
    "threshold",
    "solved (held-out)",
    "episodes to threshold",
    "env steps to threshold",
    "wall time",
    "held-out score (100 episodes), per seed",
    "ARS V2-t episodes",
]


def _figures(
    tasks: Sequence[Task], outcomes: Mapping[str, Sequence[Outcome]]
) -> Iterator[tuple[Task, list[Outcome], dict[str, str]]]:
    """Per task that has runs: the task, its runs and the figures both tables show."""
    for task in tasks:
        runs = list(outcomes.get(task.config, ()))
        if not runs:
            continue
        reached = [run for run in runs if run.reached_generation is not None]
        yield (
            task,
            runs,
            {
                "solved": f"{sum(run.solved for run in runs)}/{len(runs)}",
                "episodes": _median_count([r.episodes for r in reached], len(reached), len(runs)),
                "steps": _median_count([r.env_steps for r in reached], len(reached), len(runs)),
                "wall": f"{statistics.median(run.wall_s for run in runs):.1f} s",
                "ars": "—" if task.reference_episodes is None else f"{task.reference_episodes:,}",
            },
        )


def _markdown(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def suite_table(tasks: Sequence[Task], outcomes: Mapping[str, Sequence[Outcome]]) -> str:
    """One Markdown row per task: medians over its seeds (of the seeds that reached the
    threshold, for episodes and env steps: how many did is in brackets)."""
    rows = [_HEADER, ["---"] * len(_HEADER)]
    for task, runs, f in _figures(tasks, outcomes):
        rows.append(
            [
                task.name,
                f"`{task.config}`",
                _number(task.threshold),
                f["solved"],
                f["episodes"],
                f["steps"],
                f["wall"],
                "; ".join(_score(run) for run in runs),
                f["ars"],
            ]
        )
    return _markdown(rows)


def suite_section(
    tasks: Sequence[Task],
    outcomes: Mapping[str, Sequence[Outcome]],
    figures: Mapping[str, str],
) -> str:
    """The generated block: how it was made, the table, and the figures."""
    host = next((run.host for runs in outcomes.values() for run in runs if run.host), {})
    machine = f"{host.get('cores', '?')} cores ({host.get('cpu', 'unknown CPU')})"
    commit = host.get("git_commit")
    lines = [
        BEGIN,
        "",
        f"Measured with `evo bench suite` on {machine}"
        + (f", evo at commit `{commit[:12]}`" if isinstance(commit, str) else "")
        + ". Each seed is one whole `evo run` process on the default backend, an "
        "embedded cluster of one worker per core (a run over within a few seconds keeps "
        "its generations in process and never starts it: docs/cluster.md); "
        "wall time is the median over seeds, from process start to exit. *Episodes to "
        "threshold* counts the training episodes up to the generation whose stop "
        "confirmation passed the threshold, and every confirmation episode up to that one "
        "(median over the seeds that got there, how many did in brackets); *env steps* "
        "are the training episodes' alone; *solved* is the final evaluation's mean over "
        "100 held-out episodes at or above it. The ARS column is Table 1 of Mania, Guy & "
        "Recht (2018). The figures plot, per generation, the score of the strategy's "
        "solution where it logs one (its centre, played each generation), else the mean "
        "training score of the generation's members, which stays below the threshold "
        "line even when the centre's confirmation has passed it.",
        "",
        suite_table(tasks, outcomes),
    ]
    for task in tasks:
        if task.config in figures:
            lines += [
                "",
                f"![{task.name}: score against wall time and samples]({figures[task.config]})",
            ]
    return "\n".join([*lines, "", END])


def readme_table(tasks: Sequence[Task], outcomes: Mapping[str, Sequence[Outcome]]) -> str:
    """The README's short form of the table, pointing to the full one."""
    rows = [
        ["config", "task", "solved (held-out)", "episodes to threshold", "wall time", "ARS V2-t"],
        ["---"] * 6,
    ]
    for task, _, f in _figures(tasks, outcomes):
        rows.append(
            [
                f"`{task.config}`",
                f"{task.name} >= {_number(task.threshold)}",
                f"{f['solved']} seeds",
                f["episodes"],
                f["wall"],
                f["ars"],
            ]
        )
    table = _markdown(rows)
    return "\n".join(
        [
            BEGIN,
            "",
            "Medians over seeds of whole `evo run` processes on the default backend (an "
            "embedded cluster of one worker per core, started where it pays), "
            "written by `evo bench suite` (how each figure is taken: "
            "[docs/benchmarks.md](docs/benchmarks.md)).",
            "",
            table,
            "",
            END,
        ]
    )


def write_section(path: Path, section: str) -> None:
    """Put ``section`` between the markers of ``path`` (appended when it has none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    elif BEGIN in text or END in text:
        raise ConfigError(f"{path}: holds only one of the `evo bench suite` markers")
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + section + "\n"
    atomic_write_text(path, text)


def draw_figures(
    tasks: Sequence[Task], outcomes: Mapping[str, Sequence[Outcome]], folder: Path, base: Path
) -> dict[str, str]:
    """One `evo compare` figure per task (its seeds as one group); paths relative to
    ``base`` (the Markdown file's folder)."""
    from evo.analysis.compare import compare

    folder.mkdir(parents=True, exist_ok=True)
    drawn = {}
    for task in tasks:
        runs = outcomes.get(task.config)
        if not runs:
            continue
        out = folder / f"{task.config}.png"
        folders = [run.folder for run in runs]
        try:  # the score of the solution the stop rule confirms, where a strategy has one
            compare(folders, out, "solution_fitness", task.threshold, task.name)
        except ConfigError:  # none logged: its generations' scores
            compare(folders, out, None, task.threshold, task.name)
        drawn[task.config] = os.path.relpath(out, base)
    return drawn


def _median_count(values: list[int | None], reached: int, total: int) -> str:
    median = median_or_none(values)
    if median is None:
        return "—"
    return f"{median:,.0f}" + ("" if reached == total else f" ({reached}/{total})")


def _score(run: Outcome) -> str:
    if run.final_mean is None:
        return f"seed {run.seed}: —"
    std = "" if run.final_std is None else f" ± {run.final_std:.1f}"
    return f"{run.final_mean:.1f}{std}"


def _number(value: float) -> str:
    return f"{value:g}"
