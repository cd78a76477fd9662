"""A tampered run folder is one line and exit 2 for every command that reads the damaged
file, never a traceback, and nothing in the folder changes: each file kind x each
corruption x each command. The default suite asks one reader of each corruption (they take
turns); ``-m slow`` asks every command, with a zip bomb of gigabytes."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pytest

from tests.fuzz import tamper
from tests.fuzz.harness import COMMANDS, as_stopped, checked_call, copy_run, make_run

INSPECTING = [name for name in COMMANDS if name.startswith("inspect")]
LOOKING = [*INSPECTING, "plot", "compare", "export-csv", "export-lineage", "export-member"]
EVERYTHING = list(COMMANDS)

# file kind: (its corruptions, the commands that read it, corruptions they may take in
# their stride: a log with no lines yet, NaN where evo writes NaN, what a reader does not
# read, ...)
KINDS: dict[str, tuple[dict, list[str], set[str]]] = {
    "metrics.jsonl": (tamper.METRICS, [c for c in EVERYTHING if c != "replay"], {"emptied"}),
    "events.jsonl": (
        tamper.EVENTS,
        [c for c in EVERYTHING if c != "replay"],
        {"emptied"},
    ),
    "summary.json": (tamper.SUMMARY, [c for c in EVERYTHING if c != "replay"], set()),
    "config.yaml": (
        tamper.CONFIG,
        EVERYTHING,
        # values only the typed config checks: the commands that only look read plain data
        {"population-string", "population-huge", "seed-huge", "sigma-nan", "algorithm-list"}
        | {"policy-scalar", "truncated"},
    ),
    "checkpoints/gen-000003.npz": (tamper.CHECKPOINT_NPZ, ["resume"], {"nan"}),
    "checkpoints/gen-000003.json": (tamper.CHECKPOINT_JSON, ["resume"], set()),
    "lineage/000002.npz": (
        tamper.NPZ,
        ["inspect-lineage", "inspect-generation", "export-lineage"],
        {"nan"},
    ),
    "best.npz": (
        tamper.NPZ,
        [c for c in EVERYTHING if c not in ("resume", "export-member")],
        {"nan", "shorter"},
    ),
}
# What only the typed config refuses: the commands that build the run from it.
TYPED_CONFIG = ["resume", "replay", "export-member"]
BOMB_DEFAULT, BOMB_SLOW = 256 << 20, 4 << 30


def _cases(every_command: bool) -> list[tuple[str, str, str]]:
    cases = []
    turn = itertools.count()
    for kind, (corruptions, readers, _) in KINDS.items():
        for name in corruptions:
            commands = EVERYTHING if every_command else [_reader(kind, name, readers, turn)]
            cases.extend((kind, name, command) for command in commands)
    return cases


def _reader(kind: str, name: str, readers: list[str], turn: itertools.count) -> str:
    """The command a default-suite case asks: one that must refuse it, in turn (plot, the
    slowest, only where nothing else reads the file)."""
    must = _must_refuse(kind, name, readers)
    choices = [c for c in must if c != "plot"] or must or readers
    return choices[next(turn) % len(choices)]


def _must_refuse(kind: str, name: str, readers: list[str]) -> list[str]:
    _, _, tolerated = KINDS[kind]
    if kind == "config.yaml" and name in tolerated:
        return TYPED_CONFIG if name != "truncated" else []
    if name in tolerated:
        if kind == "best.npz" and name == "shorter":
            return ["replay"]
        return []
    return readers


@functools.cache
def _source(root: str) -> Path:
    return make_run(Path(root))


@functools.cache
def _bombed(path: str, size: int) -> bytes:
    """The file at ``path`` as a zip bomb of ``size`` bytes (made once: it takes seconds)."""
    bomb = Path(f"{path}.bomb")
    bomb.write_bytes(Path(path).read_bytes())
    tamper.zip_bomb(bomb, size)
    data = bomb.read_bytes()
    bomb.unlink()
    return data


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished three-generation run, every generation checkpointed and in the lineage."""
    return _source(str(tmp_path_factory.mktemp("source")))


def _check(finished: Path, tmp_path: Path, kind: str, name: str, command: str, bomb: int) -> None:
    corruptions, readers, _ = KINDS[kind]
    run_dir = copy_run(finished, tmp_path / "case")
    if command == "resume" and kind != "summary.json":
        as_stopped(run_dir)  # resume has work to do
    if name == "zip-bomb":
        (run_dir / kind).write_bytes(_bombed(str(finished / kind), bomb))
    else:
        corruptions[name](run_dir / kind)
    outcome = checked_call(command, run_dir, tmp_path / "out")
    if command in _must_refuse(kind, name, readers):
        assert outcome.status == 2, f"{kind} {name}: evo {command} exit {outcome.status}"
        if kind != "config.yaml" or name not in KINDS[kind][2]:  # (those name the key)
            assert Path(kind).name in outcome.stderr or str(run_dir) in outcome.stderr, outcome


@pytest.mark.parametrize(("kind", "name", "command"), _cases(every_command=False))
def test_a_tampered_file_is_one_line(
    finished: Path, tmp_path: Path, kind: str, name: str, command: str
) -> None:
    _check(finished, tmp_path, kind, name, command, BOMB_DEFAULT)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name", "command"), _cases(every_command=True))
def test_every_command_on_every_tampered_file(
    finished: Path, tmp_path: Path, kind: str, name: str, command: str
) -> None:
    _check(finished, tmp_path, kind, name, command, BOMB_SLOW)
