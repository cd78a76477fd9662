"""``evo inspect RUN`` (summary and table, events, lineage, a generation) or ``SWEEP``."""

from __future__ import annotations

import argparse
import json

from evo.errors import RunFolderError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo inspect``."""
    parser = commands.add_parser("inspect", help="summary and per-generation table of a run")
    parser.add_argument("run_dir", help="a run folder (or a sweep folder: its settings table)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--events",
        action="store_true",
        help="list events: workers joining and leaving, retries, checkpoints, stops",
    )
    parser.add_argument(
        "--lineage",
        nargs="?",
        const="best",
        metavar="GEN:ID",
        help="ancestry of a member (default: the run's best) back to the initial parameters",
    )
    parser.add_argument(
        "--generation",
        type=int,
        metavar="G",
        help="list generation G's members (counted from 1, as in the table), best first",
    )
    parser.set_defaults(handler=inspect)


def inspect(args: argparse.Namespace) -> int:
    """Print the view of a run (or sweep) folder the options ask for."""
    from evo.sweep import SweepFolder

    if SweepFolder.holds_sweep(args.run_dir):
        print(_sweep(args))
    else:
        print(_run(args))
    return 0


def _sweep(args: argparse.Namespace) -> str:
    from evo.analysis.inspect import format_sweep, sweep_rows
    from evo.runlog import json_safe
    from evo.sweep import SweepFolder

    sweep = SweepFolder.open(args.run_dir)
    if args.events:
        raise RunFolderError(f"{sweep.path}: a sweep folder; --events lists a run's events")
    rows = json.dumps(json_safe(sweep_rows(sweep)), indent=2) if args.json else None
    return rows or format_sweep(sweep)


def _run(args: argparse.Namespace) -> str:
    from evo.analysis import inspect
    from evo.runlog import RunRecord

    run = RunRecord.read(args.run_dir)
    if args.json:
        return json.dumps(run.summary or {}, indent=2)
    if args.lineage is not None:
        from evo.lineage import parse_member

        member = None if args.lineage == "best" else parse_member(args.lineage, "--lineage")
        return inspect.format_lineage(run, member)
    if args.generation is not None:
        return inspect.format_generation(run, args.generation)
    if args.events:
        return inspect.format_events(run)
    return inspect.format_run(run)
