"""The ``evo`` command line: ``evo run``, ``evo inspect``, ``evo serve``, ``evo bench``, ...

Errors a user can fix (bad config, bad override, missing run folder) print one
line and exit with status 2; a failed evaluation exits 1; Ctrl-C exits 130 and
SIGTERM 143, after a checkpoint of the last finished generation is written and
the cluster is closed. Each command lives in its own module, which adds
its subparser and the handler that runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from evo import __version__
from evo.cli import bench, configs, export, inspect, plot, replay, run, serve, sweep
from evo.cli.options import Parser
from evo.errors import EvoError
from evo.interrupts import exit_status

# In the order `evo --help` lists them.
_REGISTER = [
    run.register_run,
    configs.register,
    sweep.register,
    replay.register,
    bench.register,
    run.register_resume,
    inspect.register,
    plot.register_plot,
    plot.register_compare,
    export.register,
    serve.register,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = Parser(prog="evo", description="Neuroevolution experiments on Dask.")
    parser.add_argument("--version", action="version", version=f"evo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for register in _REGISTER:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evo`` console script (and of ``python -m evo``)."""
    _import_from_working_directory()
    _quiet_lost_scheduler()
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except EvoError as exc:
        print(f"evo: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"evo: interrupted{_by(exc)}", file=sys.stderr)
        return exit_status(exc)
    except BrokenPipeError:  # the reader went away (`evo inspect RUN | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def one_line(text: str) -> str:
    """``text`` with its unprintable characters escaped (a config key of control
    characters, a line break in a found value): one line, and no terminal escapes."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def console() -> None:
    """The ``evo`` console script and ``python -m evo``: :func:`main`, then, once its output
    is flushed, an immediate exit.

    What a command opened it has closed by then (the cluster, the run folder, the
    loggers); what a normal exit adds is Python's finalisation of the imported modules
    (numba, scipy, Dask), 1.2-1.3 s here. With a child process still running, the exit
    is the normal one, which ends it.
    """
    # multiprocessing's resource tracker (a process of its own, started with these flags)
    # removes the semaphores of the worker processes an interrupt left behind, and warns
    # about them on this terminal: the cleanup is its job, the warning is noise.
    sys.warnoptions.append("ignore:resource_tracker:UserWarning")
    code = main()
    import multiprocessing

    if multiprocessing.active_children():
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _quiet_lost_scheduler() -> None:
    # When a scheduler goes away, Dask's client logs the closed comm (with a traceback) and
    # its failed reconnection; evo then says in one line what happened and how to go on.
    logging.getLogger("distributed.batched").setLevel(logging.WARNING)
    logging.getLogger("distributed.client").addFilter(
        lambda record: not record.getMessage().startswith("Failed to reconnect to scheduler")
    )


def _by(exc: KeyboardInterrupt) -> str:
    signum = getattr(exc, "signum", None)
    return "" if signum is None else f" ({signal.Signals(signum).name})"


def _import_from_working_directory() -> None:
    # `python -m evo` puts the working directory first on sys.path; the console script puts
    # its own bin/ folder there instead. Do as `python -m evo` does, so that a config's
    # `env.id: mymodule:Env-v0` finds mymodule.py beside it either way.
    here = os.getcwd()
    if not any(os.path.abspath(entry or os.curdir) == here for entry in sys.path):
        sys.path.insert(0, here)
