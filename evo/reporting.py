"""What a run prints: a header, one line per generation, the final evaluation."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from evo.callbacks import Callback
from evo.config import ExperimentConfig


class Reporter(Callback):
    """Plain line-per-generation console output (silent with ``quiet``)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.total = 0

    def info(self, text: str) -> None:
        """A line of context (backend, cluster address)."""
        self._print(text)

    def on_start(self, config: ExperimentConfig, generations: int) -> None:
        """The run's header."""
        self.total = generations
        algorithm = config.algorithm
        task = config.env.id
        if config.function is not None:
            task = f"{config.function.name} ({config.function.dim} dimensions)"
        if config.data is not None:
            task = f"the {config.data.name} data set (minibatches of {config.data.batch_size})"
        self._print(
            f"{config.name}: {algorithm.name} on {task}, population "
            f"{algorithm.population_size or 'by default'}, up to {config.generations} generations, "
            f"seed {config.seed}"
        )

    def on_generation(self, record: dict[str, Any]) -> None:
        """One generation's line."""
        total = self.total
        rate = record["evaluations"] / max(record["time_s"], 1e-9)
        solution = record.get("solution_fitness")
        self._print(
            f"gen {record['generation']:>{len(str(total))}}/{total}"
            f"  best {_num(record['fitness_max'])}  mean {_num(record['fitness_mean'])}"
            + (f"  solution {_num(solution)}" if solution is not None else "")
            + f"  evals/s {rate:8.1f}  elapsed {record['time_s']:7.1f}s"
        )

    def on_stop(self, summary: dict[str, Any]) -> None:
        """The final evaluation."""
        if summary.get("test_accuracy") is not None:
            verdict = ""
            if summary["solve_threshold"] is not None:
                verdict = " (solved)" if summary["solved"] else " (not solved)"
            self._print(
                f"final evaluation: test accuracy {summary['test_accuracy']:.2%}, test loss "
                f"{summary['test_loss']:.4f} on {summary['final_eval_episodes']} held-out "
                f"examples{verdict}; {summary['generations']} generations, "
                f"{summary['wall_time_s']:.1f}s wall time, stopped by {summary['stop_reason']}"
            )
        elif summary["final_eval_episodes"]:
            verdict = ""
            if summary["solve_threshold"] is not None:
                verdict = " (solved)" if summary["solved"] else " (not solved)"
            self._print(
                f"final evaluation: mean {summary['final_eval_mean']:.2f} "
                f"± {summary['final_eval_std']:.2f} over {summary['final_eval_episodes']} fresh "
                f"episodes{verdict}; {summary['generations']} generations, "
                f"{summary['wall_time_s']:.1f}s wall time, stopped by {summary['stop_reason']}"
            )

    def close(self) -> None:
        """The run is over (finished or not): release the display."""

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)


class LiveReporter(Reporter):
    """A progress bar over generations for a terminal (rich): ETA, best and mean fitness,
    evaluations per second and workers, redrawn in place; other lines print above it."""

    def __init__(self, stream: TextIO | None = None, force_terminal: bool | None = None) -> None:
        from rich.console import Console

        super().__init__(stream)
        self.console = Console(file=self.stream, force_terminal=force_terminal, highlight=False)
        self.progress: Any = None
        self.task: Any = None

    def on_start(self, config: ExperimentConfig, generations: int) -> None:
        """The header, then the bar."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        super().on_start(config, generations)
        self.progress = Progress(
            TextColumn("gen {task.completed:>.0f}/{task.total:.0f}"),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
        )
        self.progress.start()
        self.task = self.progress.add_task("", total=generations, stats="")

    def on_generation(self, record: dict[str, Any]) -> None:
        """The bar moves on."""
        rate = record["evaluations"] / max(record["time_s"], 1e-9)
        stats = (
            f"best {_num(record['fitness_max']).strip()}  mean "
            f"{_num(record['fitness_mean']).strip()}  evals/s {rate:.0f}  "
            f"workers {record.get('workers', '-')}"
        )
        self.progress.update(self.task, completed=record["generation"], stats=stats)

    def on_stop(self, summary: dict[str, Any]) -> None:
        """The bar goes, the final evaluation prints."""
        self.close()
        super().on_stop(summary)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, soft_wrap=True)


class SweepReporter:
    """What a sweep prints: a line per run as it ends (``[3/8] sigma=0.02-seed=1: ...``)
    and, on a terminal (``live``), a progress bar over all the sweep's generations above
    a bar per experiment running now. Safe to call from the experiments' threads."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        live: bool = False,
        force_terminal: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.console: Any = None
        if live and not quiet:
            from rich.console import Console

            self.console = Console(file=self.stream, force_terminal=force_terminal, highlight=False)
        self.progress: Any = None
        self._lock = threading.Lock()
        self._bars: dict[str, Any] = {}  # run -> its bar, while it runs
        self._done: dict[str, int] = {}  # run -> generations done (all of them once it ends)
        self._ended = 0
        self._runs = 0

    def info(self, text: str) -> None:
        """A line of context (the cluster, the sweep folder)."""
        self._print(text)

    def start(self, runs: int, generations: int) -> None:
        """The sweep begins: ``runs`` runs of ``generations`` generations in all."""
        self._runs = runs
        if self.console is None:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:>.0f}/{task.total:.0f}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
        )
        self.progress.start()
        self._overall = self.progress.add_task("sweep", total=generations, stats="")
        self._describe()

    def member(self, name: str) -> Reporter:
        """The reporter of run ``name``: its generations feed this display."""
        return _MemberReporter(self, name)

    def generation(self, name: str, record: dict[str, Any], total: int) -> None:
        """Run ``name`` finished a generation."""
        with self._lock:
            self._done[name] = record["generation"]
            if self.progress is None:
                return
            if name not in self._bars:
                self._bars[name] = self.progress.add_task(f"  {name}", total=total, stats="")
            stats = (
                f"best {_num(record['fitness_max']).strip()}  "
                f"mean {_num(record['fitness_mean']).strip()}"
            )
            self.progress.update(self._bars[name], completed=record["generation"], stats=stats)
            self.progress.update(self._overall, completed=sum(self._done.values()))

    def ended(self, name: str, text: str, generations: int) -> None:
        """Run ``name`` is over (``text``: how it ended); it counts ``generations`` in all."""
        with self._lock:
            self._ended += 1
            self._done[name] = generations
            line = f"[{self._ended}/{self._runs}] {name}: {text}"
            if self.progress is not None:
                bar = self._bars.pop(name, None)
                if bar is not None:
                    self.progress.remove_task(bar)
                self.progress.update(self._overall, completed=sum(self._done.values()))
                self._describe()
        self._print(line)

    def close(self) -> None:
        """The sweep is over (finished or not): release the display."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _describe(self) -> None:
        self.progress.update(self._overall, description=f"sweep: {self._ended}/{self._runs} runs")

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        if self.console is not None:
            self.console.print(text, markup=False, soft_wrap=True)
        else:
            print(text, file=self.stream, flush=True)


class _MemberReporter(Reporter):
    """A run of a sweep: silent itself, its generations go to the sweep's display."""

    def __init__(self, sweep: SweepReporter, name: str) -> None:
        super().__init__(quiet=True)
        self.sweep, self.name = sweep, name

    def on_generation(self, record: dict[str, Any]) -> None:
        """To the sweep's display."""
        self.sweep.generation(self.name, record, self.total)


def make_reporter(quiet: bool = False) -> Reporter:
    """A live progress bar on a terminal, plain lines otherwise (or nothing with ``quiet``)."""
    if not quiet and sys.stdout.isatty():
        return LiveReporter()
    return Reporter(quiet=quiet)


def _num(value: float | None) -> str:
    return f"{value:9.2f}" if value is not None else f"{'n/a':>9}"
