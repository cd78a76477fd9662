"""``evo run CONFIG`` and ``evo resume RUN``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from evo.cli.options import add_import_path, add_overrides, add_quiet, imports_of_folder

if TYPE_CHECKING:
    from evo.config import ExperimentConfig


def register_run(commands: argparse._SubParsersAction) -> None:
    """Add ``evo run``."""
    parser = commands.add_parser("run", help="run an experiment from a YAML config")
    parser.add_argument("config", help="YAML experiment file (or a run's config.yaml)")
    add_overrides(parser, "override a config key, e.g. --set algorithm.sigma=0.05 (repeatable)")
    parser.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    parser.add_argument(
        "--scheduler", help="address of an existing Dask scheduler (tcp://HOST:PORT)"
    )
    add_quiet(parser, "run folder")
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (defaults filled, --set applied) and stop",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything a run checks first (env, data set, function), print the "
        "resolved config and stop; nothing is written, no cluster started",
    )
    parser.set_defaults(handler=run)


def register_resume(commands: argparse._SubParsersAction) -> None:
    """Add ``evo resume``."""
    parser = commands.add_parser("resume", help="continue a stopped run from its last checkpoint")
    parser.add_argument("run_dir", help="a run folder")
    add_overrides(
        parser,
        "change a key that does not change the numbers (generations, stop.*, backend.*, "
        "checkpoint.*, final_eval.*), e.g. --set generations=200 (repeatable)",
    )
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler")
    add_import_path(parser)
    add_quiet(parser, "run folder")
    parser.set_defaults(handler=resume)


def run(args: argparse.Namespace) -> int:
    """``evo run CONFIG``."""
    from evo import interrupts
    from evo.config import load_config
    from evo.experiment import run
    from evo.reporting import make_reporter

    config = load_config(args.config, args.overrides)
    if args.print_config or args.dry_run:
        return _print_config(config, args.dry_run)
    # SIGTERM unwinds like Ctrl-C, so the cluster is closed and no worker is orphaned;
    # neither is raised inside a Dask call (see evo.interrupts).
    interrupts.install()
    result = run(
        config,
        args.runs_dir,
        scheduler=args.scheduler,
        reporter=make_reporter(args.quiet),
        started=process_started(),
    )
    print(result.path)
    return 0


def process_started() -> float:
    """When this process began, as a ``time.perf_counter()`` reading (so a run's wall time
    includes the interpreter's start and the imports); where /proc does not say, now."""
    import os
    import time

    now = time.perf_counter()
    try:
        with open("/proc/self/stat") as stat:  # field 22: start, in clock ticks since boot
            ticks = int(stat.read().rpartition(")")[2].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0 <= age < 3600 else now


def resume(args: argparse.Namespace) -> int:
    """``evo resume RUN``."""
    from evo import interrupts
    from evo.experiment import resume
    from evo.reporting import make_reporter

    imports_of_folder(args, args.run_dir)
    interrupts.install()
    result = resume(
        args.run_dir,
        scheduler=args.scheduler,
        reporter=make_reporter(args.quiet),
        overrides=args.overrides,
    )
    print(result.path)
    return 0


def _print_config(config: ExperimentConfig, dry_run: bool) -> int:
    """The resolved config as YAML; with ``dry_run``, the problem and method built first
    (what a run checks before its folder exists), and a line about them on stderr."""
    import sys

    from evo.config import dump_yaml

    if dry_run:
        from evo.methods import make_method
        from evo.problems import make_problem

        method = make_method(config, make_problem(config))
        where = "in process" if config.backend.kind == "serial" else "on Dask"
        print(
            f"dry run: {config.name} is valid: {method.name}, {config.generations} generations, "
            f"{where}; nothing was written",
            file=sys.stderr,
        )
    print(dump_yaml(config), end="")
    return 0
