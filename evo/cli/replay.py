"""``evo replay RUN --out FILE``: the best policy of a run as a GIF (or PNG)."""

from __future__ import annotations

import argparse

from evo.cli.options import add_import_path, imports_of_folder


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo replay``."""
    parser = commands.add_parser("replay", help="the best policy of a run as a GIF (or PNG)")
    parser.add_argument("run_dir", help="a run folder")
    parser.add_argument("--out", required=True, help="the GIF (or, with --png, PNG) to write")
    parser.add_argument(
        "--track",
        "--seed",
        dest="seed",
        type=int,
        default=None,
        help="the episode's reset seed: for the race track, the track (default: a held-out one)",
    )
    parser.add_argument("--png", action="store_true", help="write a still of the end instead")
    parser.add_argument("--every", type=int, default=2, help="keep every N-th frame (default: 2)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop the episode early")
    parser.add_argument(
        "--params", help="drive with this .npz instead of best.npz (from evo export --member)"
    )
    add_import_path(parser)
    parser.set_defaults(handler=replay)


def replay(args: argparse.Namespace) -> int:
    """Drive the episode, write the image and print what happened in it."""
    from evo.analysis.replay import replay
    from evo.errors import ConfigError

    if args.every < 1:
        raise ConfigError(f"--every: expected a positive integer, found {args.every}")
    imports_of_folder(args, args.run_dir)
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
