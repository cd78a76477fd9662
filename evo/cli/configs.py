"""``evo configs``: the experiments that ship with evo, and the text of one."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evo configs``."""
    parser = commands.add_parser(
        "configs", help="list the shipped experiments (`evo run NAME` runs one)"
    )
    parser.add_argument(
        "name", nargs="?", help="print this shipped config's YAML (to copy and edit)"
    )
    parser.set_defaults(handler=configs)


def configs(args: argparse.Namespace) -> int:
    """Print the table of shipped configs, or one config's YAML."""
    from evo.analysis.tables import left_then_right, table
    from evo.config.shipped import configs_folder, resolve_config, shipped_configs

    if args.name is not None:
        if "/" in args.name:
            from evo.errors import ConfigError

            raise ConfigError(f"{args.name}: expected the name of a shipped config")
        print(resolve_config(args.name).read_text(encoding="utf-8"), end="")
        return 0
    shipped = shipped_configs()
    rows = [[c.name, c.algorithm, c.task, c.description] for c in shipped]
    for line in table(
        left_then_right(["name", "algorithm", "task", "description"], frozenset({0, 1, 2, 3})),
        rows,
        strip=True,
    ):
        print(line)
    print(
        f"{len(shipped)} configs in {configs_folder()}; `evo run NAME` runs one, "
        "`evo configs NAME` prints it"
    )
    return 0
