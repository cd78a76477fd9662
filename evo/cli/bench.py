"""``evo bench env`` (race-track car-steps per CPU-second), ``evo bench CONFIG`` (serial
against Dask) or ``evo bench suite`` (every benchmark task over seeds, into a Markdown table)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from evo.cli.options import add_overrides
from evo.errors import ConfigError

if TYPE_CHECKING:
    from evo.config import ExperimentConfig


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo bench``."""
    parser = commands.add_parser("bench", help="print performance figures")
    parser.add_argument(
        "target",
        help="env: race-track car-steps per CPU-second; a config: serial vs Dask on it; "
        "suite: every benchmark task over its seeds, written into --out",
    )
    add_overrides(parser, "override a config value (with a config)")
    parser.add_argument("--generations", type=int, default=5, help="per repeat (with a config)")
    parser.add_argument("--scheduler", help="an existing Dask scheduler (with a config)")
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="instead: run N generations and report the orchestrator's memory growth",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="generations run first, unmeasured, to bench from further into a run",
    )
    parser.add_argument(
        "--cars",
        default="1,64,256,1024",
        help="batch sizes, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="medians of this many (default: env 5, config 3)"
    )
    parser.add_argument("--steps", type=int, default=100, help="lockstep steps per run")
    parser.add_argument(
        "--json",
        action="store_true",
        help="with a config: print every figure as one JSON document on stdout "
        "(progress goes to stderr)",
    )
    suite = parser.add_argument_group("suite")
    suite.add_argument("--tasks", help="comma-separated configs of the suite (default: all)")
    suite.add_argument("--seeds", help="comma-separated seeds (default: each task's own)")
    suite.add_argument(
        "--runs-dir",
        default="runs/bench-suite",
        help="where the suite's runs go; finished ones are read, not run again "
        "(default: %(default)s)",
    )
    suite.add_argument(
        "--out",
        default="docs/benchmarks.md",
        help="the Markdown file whose generated section is (re)written (default: %(default)s)",
    )
    suite.add_argument(
        "--readme",
        help="also (re)write the short table of this file's generated section (README.md)",
    )
    suite.add_argument(
        "--figures",
        default="docs/benchmarks",
        help="folder of the per-task figures, made by `evo compare` (default: %(default)s)",
    )
    parser.set_defaults(handler=bench)


def bench(args: argparse.Namespace) -> int:
    """Print the figures of the env, or of a config."""
    if args.json and args.target in ("env", "suite"):
        raise ConfigError(f"--json: expected a config to bench, found {args.target!r}")
    if args.target == "env":
        return _bench_env(args)
    if args.target == "suite":
        return _bench_suite(args)
    return _bench_config(args)


def _bench_suite(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evo.bench.suite import run_suite, select_tasks
    from evo.bench.suite_report import draw_figures, readme_table, suite_section, write_section

    tasks = select_tasks(args.tasks)
    seeds = None if args.seeds is None else _integers("--seeds", args.seeds)
    out = Path(args.out)
    for flag, name in (("--out", args.out), ("--readme", args.readme)):
        if name is not None and Path(name).suffix != ".md":
            raise ConfigError(f"{flag}: expected a Markdown file (.md), found {name!r}")
    outcomes = run_suite(tasks, Path(args.runs_dir), seeds=seeds, overrides=args.overrides)
    figures = draw_figures(tasks, outcomes, Path(args.figures), out.parent)
    write_section(out, suite_section(tasks, outcomes, figures))
    print(f"wrote {out}")
    if args.readme is not None:
        write_section(Path(args.readme), readme_table(tasks, outcomes))
        print(f"wrote {args.readme}")
    return 0


def _integers(flag: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag}: expected comma-separated integers, found {text!r}") from None
    if any(value < 0 for value in values):
        raise ConfigError(f"{flag}: expected non-negative integers, found {text!r}")
    return values


def _bench_config(args: argparse.Namespace) -> int:
    from evo import interrupts
    from evo.bench import bench_config, bench_gradient, soak
    from evo.config import load_config

    repeats = 3 if args.repeats is None else args.repeats
    if args.generations < 1 or repeats < 1 or args.warmup < 0:
        raise ConfigError("--generations, --repeats: expected positive integers; --warmup: >= 0")
    config = load_config(args.target, args.overrides)
    interrupts.install()
    if args.json and (args.soak is not None or config.mode == "gradient"):
        raise ConfigError(
            "--json: expected an evolution config without --soak, found "
            + ("--soak" if args.soak is not None else f"a {config.mode} config")
        )
    if args.soak is not None:
        if args.soak < 100:
            raise ConfigError(f"--soak: expected at least 100 generations, found {args.soak}")
        soak(config, args.soak, scheduler=args.scheduler)
        return 0
    if config.mode == "gradient":
        if args.scheduler is not None:
            raise ConfigError(
                "--scheduler: a gradient config is benchmarked on embedded clusters of 1 "
                "and 2 workers"
            )
        bench_gradient(config, rounds=args.generations, repeats=repeats)
        return 0
    if not args.json:
        bench_config(
            config,
            generations=args.generations,
            repeats=repeats,
            warmup=args.warmup,
            scheduler=args.scheduler,
        )
        return 0
    return _bench_config_json(config, args.generations, repeats, args.warmup, args.scheduler)


def _bench_config_json(
    config: ExperimentConfig, generations: int, repeats: int, warmup: int, scheduler: str | None
) -> int:
    """``evo bench CONFIG --json``: the figures as one JSON document, alone on stdout."""
    import json

    from evo.bench import bench_config, config_figures

    def progress(line: str) -> None:
        print(line, file=sys.stderr)

    with _stdout_to_stderr():  # whatever else prints (workers, C libraries) joins progress
        result = bench_config(
            config,
            generations=generations,
            repeats=repeats,
            warmup=warmup,
            scheduler=scheduler,
            report=progress,
        )
    print(json.dumps(config_figures(result), indent=2))
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send this process's stdout, and that of the processes it starts, to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _bench_env(args: argparse.Namespace) -> int:
    from evo.bench import bench_env

    try:
        cars = [int(c) for c in args.cars.split(",")]
    except ValueError:
        raise ConfigError(
            f"--cars: expected comma-separated integers, found {args.cars!r}"
        ) from None
    repeats = 5 if args.repeats is None else args.repeats
    if min(cars) < 1 or repeats < 1 or args.steps < 1:
        raise ConfigError("--cars, --repeats and --steps: expected positive integers")
    bench_env(cars, repeats=repeats, steps=args.steps)
    return 0
