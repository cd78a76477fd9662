"""``evo export RUN``: logs as CSV (``--csv``, ``--events-csv``, ``--lineage-csv``), or a member."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo export``."""
    parser = commands.add_parser("export", help="a run's logs as CSV, or a member's parameters")
    parser.add_argument("run_dir", help="a run folder")
    parser.add_argument("--csv", help="where to write metrics.jsonl as CSV")
    parser.add_argument("--events-csv", help="also write events.jsonl as CSV here")
    parser.add_argument("--lineage-csv", help="write the lineage (a row per member) as CSV here")
    parser.add_argument(
        "--member",
        metavar="GEN:ID",
        help="rebuild member ID of generation GEN (from 1) exactly; written to -o as .npz",
    )
    parser.add_argument("-o", "--out", help="the .npz to write the member to (with --member)")
    parser.set_defaults(handler=export)


def export(args: argparse.Namespace) -> int:
    """Write the files asked for, printing a line for each."""
    from evo.analysis.export import export_run

    export_run(
        args.run_dir,
        metrics_csv=args.csv,
        events_csv=args.events_csv,
        lineage_csv=args.lineage_csv,
        member=args.member,
        out=args.out,
    )
    return 0
