"""``evo sweep CONFIG --seeds 0-4 [--grid KEY=V1,V2 ...]`` and ``evo sweep --resume SWEEP``."""

from __future__ import annotations

import argparse
import sys

from evo.cli.options import add_overrides, add_quiet


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo sweep``."""
    parser = commands.add_parser(
        "sweep", help="run a config over several seeds and a grid of settings, on one cluster"
    )
    parser.add_argument("config", nargs="?", help="YAML experiment file")
    parser.add_argument(
        "--seeds", help="seeds: a range 0-4, a list 0,2,7 or one seed (default: the config's)"
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values to try for a config key, parsed as YAML, e.g. --grid algorithm.sigma="
        "0.02,0.05 (repeatable: every combination)",
    )
    add_overrides(parser, "override a config key for every run (repeatable)")
    parser.add_argument("--runs-dir", default="runs", help="where the sweep folder goes")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler")
    parser.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="experiments at once (default: as many as the workers' threads hold, plus one)",
    )
    parser.add_argument(
        "--resume", metavar="SWEEP", help="finish a stopped sweep (instead of a config)"
    )
    add_quiet(parser, "sweep folder")
    parser.set_defaults(handler=sweep)


def sweep(args: argparse.Namespace) -> int:
    """Run (or finish) a sweep, then print its table and its folder."""
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
    options = {"scheduler": args.scheduler, "parallel": args.parallel, "reporter": reporter}
    if args.resume is not None:
        result = resume_sweep(args.resume, **options)
    else:
        result = run_sweep(args.config, seeds, grid, args.overrides, args.runs_dir, **options)
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
