"""What the ``evo`` subcommands share: the parser class and the options several take."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (status 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with status 2."""
        self.exit(2, f"evo: error: {message} (see `{self.prog} --help`)\n")


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable), collected in ``args.overrides``."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_quiet(parser: argparse.ArgumentParser, what: str) -> None:
    """``--quiet``: print only the path of the folder made."""
    parser.add_argument("--quiet", action="store_true", help=f"print only the {what}'s path")


def add_import_path(parser: argparse.ArgumentParser) -> None:
    """``--import-path DIR`` (repeatable), collected in ``args.import_path``."""
    parser.add_argument(
        "--import-path",
        action="append",
        default=[],
        metavar="DIR",
        help="also import the modules the run's config names from DIR (e.g. . for the "
        "working directory); by default only installed packages are imported (repeatable)",
    )


def imports_of_folder(args: argparse.Namespace, run_dir: str) -> None:
    """Before a command builds a run folder's env or function: installed packages only,
    plus ``--import-path``; says which module it imports (stderr)."""
    import sys
    from pathlib import Path

    from evo.config import load_config
    from evo.problems.imports import installed_only
    from evo.runlog import CONFIG, RunFolder

    folder = RunFolder.open(run_dir)
    config = load_config(Path(folder.path) / CONFIG)
    installed_only(config, args.import_path, lambda line: print(f"evo: {line}", file=sys.stderr))
