"""``evo serve [RUNS_DIR]``: a live web page of the runs and sweeps under a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evo.errors import RunFolderError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo serve``."""
    parser = commands.add_parser(
        "serve", help="a live web page of the runs and sweeps under a folder"
    )
    parser.add_argument(
        "runs_dir",
        nargs="?",
        default="runs",
        help="a folder of runs, a sweep or a run (default: runs)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument(
        "--port", type=_port, default=5007, help="the port (default: 5007; 0: any free one)"
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="SECONDS",
        help="how often the page reads the folder again (default: 1)",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    """Serve the page until Ctrl-C."""
    root = Path(args.runs_dir)
    if not root.is_dir():
        raise RunFolderError(f"{root}: no such folder")
    from evo.serve import LiveServer

    server = LiveServer(root.resolve(), host=args.host, port=args.port, interval_s=args.interval)

    def ready(url: str) -> None:
        print(f"evo serve: {root} at {url} (Ctrl-C stops)", flush=True)

    server.run(on_ready=ready)
    print("evo serve: stopped", file=sys.stderr, flush=True)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, found {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, found {port}")
    return port


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, found {text!r}") from None
    if not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0.1 to 3600 seconds, found {text}")
    return seconds
