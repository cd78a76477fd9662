"""``evo plot RUN [RUN ...]`` (or ``SWEEP``) and ``evo compare RUN [RUN ...]``."""

from __future__ import annotations

import argparse

from evo.errors import RunFolderError


def register_plot(commands: argparse._SubParsersAction) -> None:
    """Add ``evo plot``."""
    parser = commands.add_parser("plot", help="fitness curves of runs as PNG, PDF or SVG")
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN", help="run folders (overlaid), or one sweep folder"
    )
    parser.add_argument(
        "-o", "--out", required=True, help="the figure to write: FILE.png, FILE.pdf or FILE.svg"
    )
    parser.add_argument(
        "--x",
        default="generation",
        choices=["generation", "time", "evals"],
        help="horizontal axis (default: generation)",
    )
    parser.add_argument("--title", help="figure title (default: from the config names)")
    _add_dpi(parser)
    parser.set_defaults(handler=plot)


def register_compare(commands: argparse._SubParsersAction) -> None:
    """Add ``evo compare``."""
    parser = commands.add_parser(
        "compare", help="runs side by side: curves, time to a threshold, cost, scaling"
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN", help="run folders")
    parser.add_argument(
        "-o", "--out", help="the figure to write, .png, .pdf or .svg (default: only the tables)"
    )
    parser.add_argument(
        "--y",
        help="the metrics key compared (default: test_accuracy if every run logs it, "
        "else fitness_mean)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="score to reach (default: each config's stop.target_fitness or final_eval.threshold)",
    )
    parser.add_argument("--title", help="figure title")
    _add_dpi(parser)
    parser.set_defaults(handler=compare)


def _add_dpi(parser: argparse.ArgumentParser) -> None:
    from evo.analysis.style import DPI

    parser.add_argument(
        "--dpi", type=int, default=DPI, help=f"PNG resolution, dots per inch (default: {DPI})"
    )


def plot(args: argparse.Namespace) -> int:
    """Write the PNG of several runs, or of one sweep, and print its path."""
    from evo.analysis.plot import plot_runs, plot_sweep
    from evo.sweep import SweepFolder

    sweeps = [path for path in args.run_dirs if SweepFolder.holds_sweep(path)]
    if sweeps and len(args.run_dirs) > 1:
        raise RunFolderError(f"{sweeps[0]}: a sweep folder; plot one sweep, or run folders")
    if sweeps:
        print(plot_sweep(sweeps[0], args.out, x=args.x, title=args.title, dpi=args.dpi))
        return 0
    print(plot_runs(args.run_dirs, args.out, x=args.x, title=args.title, dpi=args.dpi))
    return 0


def compare(args: argparse.Namespace) -> int:
    """Print the comparison tables (and, with ``-o``, write the figure and print its path)."""
    from evo.analysis.compare import compare

    print(
        compare(
            args.run_dirs,
            args.out,
            y=args.y,
            threshold=args.threshold,
            title=args.title,
            dpi=args.dpi,
        )
    )
    if args.out:
        print(args.out)
    return 0
