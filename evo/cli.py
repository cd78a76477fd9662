"""The ``evo`` command line: ``evo run``, ``evo inspect``, ``evo replay``, ``evo bench``.

Errors a user can fix (bad config, bad override, missing run folder) print one
line and exit with status 2; a failed evaluation exits 1; Ctrl-C exits 130
after the cluster is closed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from evo.errors import EvoError, RunFolderError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (status 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"evo: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="evo", description="Neuroevolution experiments on Dask.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run an experiment from a YAML config")
    run.add_argument("config", help="YAML experiment file (or a run's config.yaml)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set algorithm.sigma=0.05 (repeatable)",
    )
    run.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    run.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://HOST:PORT)")
    run.add_argument("--quiet", action="store_true", help="print only the run folder's path")

    sweep = commands.add_parser(
        "sweep", help="run a config over several seeds and a grid of settings, on one cluster"
    )
    sweep.add_argument("config", nargs="?", help="YAML experiment file")
    sweep.add_argument(
        "--seeds", help="seeds: a range 0-4, a list 0,2,7 or one seed (default: the config's)"
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values to try for a config key, parsed as YAML, e.g. --grid algorithm.sigma="
        "0.02,0.05 (repeatable: every combination)",
    )
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for every run (repeatable)",
    )
    sweep.add_argument("--runs-dir", default="runs", help="where the sweep folder goes")
    sweep.add_argument("--scheduler", help="address of an existing Dask scheduler")
    sweep.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="experiments at once (default: as many as the workers' threads hold, plus one)",
    )
    sweep.add_argument(
        "--resume", metavar="SWEEP", help="finish a stopped sweep (instead of a config)"
    )
    sweep.add_argument("--quiet", action="store_true", help="print only the sweep folder's path")

    replay = commands.add_parser("replay", help="the best policy of a run as a GIF (or PNG)")
    replay.add_argument("run_dir", help="a run folder")
    replay.add_argument("--out", required=True, help="the GIF (or, with --png, PNG) to write")
    replay.add_argument(
        "--track",
        "--seed",
        dest="seed",
        type=int,
        default=None,
        help="the episode's reset seed: for the race track, the track (default: a held-out one)",
    )
    replay.add_argument("--png", action="store_true", help="write a still of the end instead")
    replay.add_argument("--every", type=int, default=2, help="keep every N-th frame (default: 2)")
    replay.add_argument("--max-steps", type=int, default=None, help="stop the episode early")
    replay.add_argument(
        "--params", help="drive with this .npz instead of best.npz (from evo export --member)"
    )

    bench = commands.add_parser("bench", help="print performance figures")
    bench.add_argument(
        "target",
        help="env: race-track car-steps per CPU-second; or a config: serial vs Dask on it",
    )
    bench.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (with a config)",
    )
    bench.add_argument("--generations", type=int, default=5, help="per repeat (with a config)")
    bench.add_argument("--scheduler", help="an existing Dask scheduler (with a config)")
    bench.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="instead: run N generations and report the orchestrator's memory growth",
    )
    bench.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="generations run first, unmeasured, to bench from further into a run",
    )
    bench.add_argument(
        "--cars",
        default="1,64,256,1024",
        help="batch sizes, comma-separated (default: %(default)s)",
    )
    bench.add_argument(
        "--repeats", type=int, default=None, help="medians of this many (default: env 5, config 3)"
    )
    bench.add_argument("--steps", type=int, default=100, help="lockstep steps per run")

    resume = commands.add_parser("resume", help="continue a stopped run from its last checkpoint")
    resume.add_argument("run_dir", help="a run folder")
    resume.add_argument("--scheduler", help="address of an existing Dask scheduler")
    resume.add_argument("--quiet", action="store_true", help="print only the run folder's path")

    inspect = commands.add_parser("inspect", help="summary and per-generation table of a run")
    inspect.add_argument("run_dir", help="a run folder (or a sweep folder: its settings table)")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.add_argument(
        "--events",
        action="store_true",
        help="list events: workers joining and leaving, retries, checkpoints, stops",
    )
    inspect.add_argument(
        "--lineage",
        nargs="?",
        const="best",
        metavar="GEN:ID",
        help="ancestry of a member (default: the run's best) back to the initial parameters",
    )
    inspect.add_argument(
        "--generation",
        type=int,
        metavar="G",
        help="list generation G's members (counted from 1, as in the table), best first",
    )

    plot = commands.add_parser("plot", help="fitness curves of runs as a PNG")
    plot.add_argument(
        "run_dirs", nargs="+", metavar="RUN", help="run folders (overlaid), or one sweep folder"
    )
    plot.add_argument("-o", "--out", required=True, help="the PNG to write")
    plot.add_argument(
        "--x",
        default="generation",
        choices=["generation", "time", "evals"],
        help="horizontal axis (default: generation)",
    )
    plot.add_argument("--title", help="figure title (default: from the config names)")

    compare = commands.add_parser(
        "compare", help="runs side by side: curves, time to a threshold, cost, scaling"
    )
    compare.add_argument("run_dirs", nargs="+", metavar="RUN", help="run folders")
    compare.add_argument("-o", "--out", help="the PNG to write (default: only the tables)")
    compare.add_argument(
        "--y",
        help="the metrics key compared (default: test_accuracy if every run logs it, "
        "else fitness_mean)",
    )
    compare.add_argument(
        "--threshold",
        type=float,
        help="score to reach (default: each config's stop.target_fitness or final_eval.threshold)",
    )
    compare.add_argument("--title", help="figure title")

    export = commands.add_parser("export", help="a run's logs as CSV, or a member's parameters")
    export.add_argument("run_dir", help="a run folder")
    export.add_argument("--csv", help="where to write metrics.jsonl as CSV")
    export.add_argument("--events-csv", help="also write events.jsonl as CSV here")
    export.add_argument("--lineage-csv", help="write the lineage (a row per member) as CSV here")
    export.add_argument(
        "--member",
        metavar="GEN:ID",
        help="rebuild member ID of generation GEN (from 1) exactly; written to -o as .npz",
    )
    export.add_argument("-o", "--out", help="the .npz to write the member to (with --member)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evo`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except EvoError as exc:
        print(f"evo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`evo inspect RUN | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def cmd_run(args: argparse.Namespace) -> int:
    """``evo run CONFIG``."""
    from evo import interrupts
    from evo.config import load_config
    from evo.loop import run
    from evo.reporting import make_reporter

    config = load_config(args.config, args.overrides)
    # SIGTERM unwinds like Ctrl-C, so the cluster is closed and no worker is orphaned;
    # neither is raised inside a Dask call (see evo.interrupts).
    interrupts.install()
    result = run(
        config, args.runs_dir, scheduler=args.scheduler, reporter=make_reporter(args.quiet)
    )
    print(result.path)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """``evo resume RUN``."""
    from evo import interrupts
    from evo.loop import resume
    from evo.reporting import make_reporter

    interrupts.install()
    result = resume(args.run_dir, scheduler=args.scheduler, reporter=make_reporter(args.quiet))
    print(result.path)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """``evo sweep CONFIG --seeds 0-4 [--grid KEY=V1,V2 ...]`` or ``evo sweep --resume SWEEP``."""
    from evo import interrupts
    from evo.analysis.inspect import format_sweep
    from evo.errors import ConfigError
    from evo.reporting import SweepReporter
    from evo.sweep import SweepFolder, parse_grid, parse_seeds, resume_sweep, run_sweep

    if args.resume is not None:
        if args.config or args.seeds is not None or args.grid or args.overrides:
            raise ConfigError("--resume SWEEP: takes no config, --seeds, --grid or --set")
    elif args.config is None:
        raise ConfigError("expected a config (evo sweep CONFIG --seeds 0-4) or --resume SWEEP")
    grid = parse_grid(args.grid)
    seeds = None if args.seeds is None else parse_seeds(args.seeds)
    reporter = SweepReporter(quiet=args.quiet, live=sys.stdout.isatty())
    interrupts.install()  # Ctrl-C and SIGTERM stop every run, then the cluster
    if args.resume is not None:
        options = {"scheduler": args.scheduler, "parallel": args.parallel, "reporter": reporter}
        result = resume_sweep(args.resume, **options)
    else:
        result = run_sweep(
            args.config,
            seeds,
            grid,
            args.overrides,
            args.runs_dir,
            scheduler=args.scheduler,
            parallel=args.parallel,
            reporter=reporter,
        )
    if not args.quiet:
        print(f"\n{format_sweep(SweepFolder.open(result.path))}\n")
    print(result.path)
    if result.failed:
        print(
            f"evo: error: {len(result.failed)} of {len(result.runs)} runs failed "
            f"(see `evo inspect {result.path}`)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """``evo inspect RUN`` or ``evo inspect SWEEP``."""
    from evo.analysis.inspect import format_run
    from evo.runlog import RunFolder
    from evo.sweep import SweepFolder

    if SweepFolder.holds_sweep(args.run_dir):
        from evo.analysis.inspect import format_sweep, sweep_rows
        from evo.runlog import json_safe

        sweep = SweepFolder.open(args.run_dir)
        if args.events:
            raise RunFolderError(f"{sweep.path}: a sweep folder; --events lists a run's events")
        rows = json.dumps(json_safe(sweep_rows(sweep)), indent=2) if args.json else None
        print(rows or format_sweep(sweep))
        return 0
    folder = RunFolder.open(args.run_dir)
    if args.json:
        print(json.dumps(folder.read_summary() or {}, indent=2))
    elif args.lineage is not None:
        from evo.analysis.inspect import format_lineage
        from evo.lineage import parse_member

        member = None if args.lineage == "best" else parse_member(args.lineage, "--lineage")
        print(format_lineage(folder, member))
    elif args.generation is not None:
        from evo.analysis.inspect import format_generation

        print(format_generation(folder, args.generation - 1))
    elif args.events:
        from evo.analysis.inspect import format_events

        print(format_events(folder))
    else:
        print(format_run(folder))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """``evo plot RUN [RUN ...] -o fig.png`` or ``evo plot SWEEP -o fig.png``."""
    from evo.analysis.plot import plot_runs, plot_sweep
    from evo.sweep import SweepFolder

    sweeps = [path for path in args.run_dirs if SweepFolder.holds_sweep(path)]
    if sweeps and len(args.run_dirs) > 1:
        raise RunFolderError(f"{sweeps[0]}: a sweep folder; plot one sweep, or run folders")
    if sweeps:
        print(plot_sweep(sweeps[0], args.out, x=args.x, title=args.title))
        return 0
    print(plot_runs(args.run_dirs, args.out, x=args.x, title=args.title))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``evo compare RUN [RUN ...] [-o fig.png]``."""
    from evo.analysis.compare import compare

    print(compare(args.run_dirs, args.out, y=args.y, threshold=args.threshold, title=args.title))
    if args.out:
        print(args.out)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``evo export RUN --csv metrics.csv``, ``--lineage-csv``, ``--member GEN:ID -o FILE``."""
    from evo.analysis.inspect import write_csv
    from evo.errors import ConfigError
    from evo.runlog import RunFolder

    if not (args.csv or args.events_csv or args.lineage_csv or args.member):
        raise ConfigError("expected --csv, --events-csv, --lineage-csv or --member GEN:ID")
    if (args.member is None) != (args.out is None):
        raise ConfigError("--member GEN:ID and -o FILE.npz go together")
    folder = RunFolder.open(args.run_dir)
    member = None
    if args.member is not None:
        from evo.lineage import check_member, parse_member

        member = parse_member(args.member)
        check_member(folder, *member)
    targets = []
    if args.csv:
        targets.append((args.csv, folder.read_metrics))
    if args.events_csv:
        targets.append((args.events_csv, folder.read_events))
    if args.lineage_csv:
        from evo.lineage import recorded_generations, rows

        recorded_generations(folder)  # a run without lineage: one line, before any file
        targets.append((args.lineage_csv, lambda: list(rows(folder))))
    for path in [t[0] for t in targets] + ([args.out] if member else []):
        if not Path(path).parent.is_dir():
            raise RunFolderError(f"{path}: the folder {Path(path).parent} does not exist")
    for path, read in targets:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            count = write_csv(read(), handle)
        print(f"{path}: {count} rows")
    if member is not None:
        from evo.lineage import member_arrays, rebuild_member
        from evo.runlog import atomic_write_bytes, npz_bytes

        rebuilt = rebuild_member(folder, *member)
        atomic_write_bytes(Path(args.out), npz_bytes(member_arrays(rebuilt)))
        start = (
            "the initial parameters"
            if rebuilt.checkpoint is None
            else f"the checkpoint after generation {rebuilt.checkpoint}"
        )
        print(
            f"{args.out}: member {rebuilt.generation + 1}:{rebuilt.member} "
            f"(fitness {rebuilt.fitness:.4g}), {rebuilt.params.size} parameters, rebuilt from "
            f"{start}, {rebuilt.replayed} generation{'s' * (rebuilt.replayed != 1)} replayed"
        )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``evo replay RUN --out FILE``."""
    from evo.analysis.replay import replay
    from evo.errors import ConfigError

    if args.every < 1:
        raise ConfigError(f"--every: expected a positive integer, found {args.every}")
    result = replay(
        args.run_dir, args.out, args.seed, args.png, args.every, args.max_steps, args.params
    )
    ending = "terminated" if result.terminated else "reached the step limit"
    details = "".join(
        f", {key} {value:.4g}" if isinstance(value, float) else f", {key} {value}"
        for key, value in result.info.items()
    )
    print(
        f"{result.path}: {result.frames} frames, {result.steps} steps, return "
        f"{result.episode_return:.1f}, episode {ending}{details}"
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``evo bench env`` or ``evo bench CONFIG``."""
    from evo.bench import bench_config, bench_env, bench_gradient, soak
    from evo.errors import ConfigError

    if args.target != "env":
        from evo import interrupts
        from evo.config import load_config

        repeats = 3 if args.repeats is None else args.repeats
        if args.generations < 1 or repeats < 1 or args.warmup < 0:
            raise ConfigError(
                "--generations, --repeats: expected positive integers; --warmup: >= 0"
            )
        config = load_config(args.target, args.overrides)
        interrupts.install()
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
        bench_config(
            config,
            generations=args.generations,
            repeats=repeats,
            warmup=args.warmup,
            scheduler=args.scheduler,
        )
        return 0
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


_COMMANDS = {
    "resume": cmd_resume,
    "run": cmd_run,
    "sweep": cmd_sweep,
    "inspect": cmd_inspect,
    "replay": cmd_replay,
    "bench": cmd_bench,
    "plot": cmd_plot,
    "export": cmd_export,
    "compare": cmd_compare,
}


if __name__ == "__main__":
    sys.exit(main())
