"""``evo bench env`` (race-track car-steps per CPU-second) or ``evo bench CONFIG``."""

from __future__ import annotations

import argparse

from evo.cli.options import add_overrides
from evo.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo bench``."""
    parser = commands.add_parser("bench", help="print performance figures")
    parser.add_argument(
        "target",
        help="env: race-track car-steps per CPU-second; or a config: serial vs Dask on it",
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
    parser.set_defaults(handler=bench)


def bench(args: argparse.Namespace) -> int:
    """Print the figures of the env, or of a config."""
    if args.target == "env":
        return _bench_env(args)
    return _bench_config(args)


def _bench_config(args: argparse.Namespace) -> int:
    from evo import interrupts
    from evo.bench import bench_config, bench_gradient, soak
    from evo.config import load_config

    repeats = 3 if args.repeats is None else args.repeats
    if args.generations < 1 or repeats < 1 or args.warmup < 0:
        raise ConfigError("--generations, --repeats: expected positive integers; --warmup: >= 0")
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
