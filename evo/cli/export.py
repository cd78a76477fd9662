"""``evo export RUN``: logs as CSV (``--csv``, ``--events-csv``, ``--lineage-csv``), a member,
or the run as TensorBoard event files (``--tensorboard DIR``) or an MLflow run (``--mlflow``)."""

from __future__ import annotations

import argparse

from evo.cli.options import add_import_path, imports_of_folder


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
    parser.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="write the run as TensorBoard event files into DIR/<run folder name>",
    )
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="log the run as an MLflow run, to URI (default: MLFLOW_TRACKING_URI, else "
        "MLflow's local default)",
    )
    parser.add_argument(
        "--mlflow-experiment",
        metavar="NAME",
        help="the MLflow experiment (default: the config's name)",
    )
    add_import_path(parser)
    parser.set_defaults(handler=export)


def export(args: argparse.Namespace) -> int:
    """Write the files asked for, printing a line for each."""
    from evo.analysis.export import export_run

    if args.member is not None:  # rebuilding a member builds the run's env
        imports_of_folder(args, args.run_dir)

    export_run(
        args.run_dir,
        metrics_csv=args.csv,
        events_csv=args.events_csv,
        lineage_csv=args.lineage_csv,
        member=args.member,
        out=args.out,
        tensorboard=args.tensorboard,
        mlflow=args.mlflow,
        mlflow_experiment=args.mlflow_experiment,
    )
    return 0
