"""Fuzzing the command line's inputs: generated config documents and ``--set`` pairs
(checked with ``--dry-run`` and ``--print-config``: nothing trains), and run folders whose
files are mutated (bit flips, truncations, splices) under the commands that read them.
Whatever comes, evo exits 0, or 2 with one line on stderr; never a traceback, never a
run folder made on exit 2, never a file written outside the folder or the output asked
for. The default suite runs the "default" hypothesis profile, ``-m slow`` the "slow" one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import (
    Outcome,
    as_stopped,
    call,
    checked_call,
    copy_run,
    listing,
    make_run,
    stopped_config,
)
from tests.fuzz.strategies import config_document, mutated, override

SLOW = settings.get_profile("slow")


def _in(where: Path, *argv: str) -> Outcome:
    """``evo ARGV`` in-process with ``where`` as the working directory, checked: exit 0 or
    a one-line exit 2, and, whatever the exit, nothing written in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    before = listing(where)
    cwd = os.getcwd()
    os.chdir(where)
    try:
        outcome = call(*argv)
    finally:
        os.chdir(cwd)
    problems = outcome.problems()
    after = listing(where)
    if after != before:
        problems.append(f"files written: {sorted(set(after) - set(before))}")
    assert not problems, f"evo {' '.join(argv)}: " + "\n".join(problems)
    return outcome


def _check_document(where: Path, text: str, flag: str) -> None:
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    config = where / "config.yaml"
    config.write_text(text, encoding="utf-8", errors="surrogateescape")
    before = listing(where)
    cwd = os.getcwd()
    os.chdir(where)
    try:
        outcome = call("run", str(config), flag, "--runs-dir", str(where / "runs"))
    finally:
        os.chdir(cwd)
    problems = outcome.problems()
    if listing(where) != before or (where / "runs").exists():
        problems.append("something was written")
    assert not problems, f"{text!r}:\n" + "\n".join(problems)


@given(text=config_document(), flag=st.sampled_from(["--dry-run", "--print-config"]))
def test_generated_configs(tmp_path: Path, text: str, flag: str) -> None:
    _check_document(tmp_path / "doc", text, flag)


@pytest.mark.slow
@SLOW
@given(text=config_document(), flag=st.sampled_from(["--dry-run", "--print-config"]))
def test_generated_configs_many(tmp_path: Path, text: str, flag: str) -> None:
    _check_document(tmp_path / "doc", text, flag)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(yaml.safe_dump(stopped_config(), sort_keys=False))
    return path


def _check_overrides(where: Path, config: Path, pairs: list[str]) -> None:
    sets = [part for pair in pairs for part in ("--set", pair)]
    _in(where, "run", str(config), "--dry-run", "--runs-dir", str(where / "runs"), *sets)


@given(pairs=st.lists(override, min_size=1, max_size=4))
def test_generated_overrides(tmp_path: Path, tiny: Path, pairs: list[str]) -> None:
    _check_overrides(tmp_path / "cwd", tiny, pairs)


@pytest.mark.slow
@SLOW
@given(pairs=st.lists(override, min_size=1, max_size=4))
def test_generated_overrides_many(tmp_path: Path, tiny: Path, pairs: list[str]) -> None:
    _check_overrides(tmp_path / "cwd", tiny, pairs)


# ---------------------------------------------------------------- mutated run folders

FILES = [
    "metrics.jsonl",
    "events.jsonl",
    "summary.json",
    "config.yaml",
    "best.npz",
    "checkpoints/gen-000003.npz",
    "checkpoints/gen-000003.json",
    "lineage/000002.npz",
    "lineage/000003.npz",
]
# The commands that read those files (plot, the slowest, with -m slow only).
READERS = [
    "inspect",
    "inspect-events",
    "inspect-lineage",
    "inspect-generation",
    "compare",
    "export-csv",
    "export-lineage",
    "export-member",
    "replay",
    "resume",
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("source"))


def _check_mutation(finished: Path, where: Path, data: st.DataObject, commands: list[str]) -> None:
    name = data.draw(st.sampled_from(FILES), label="file")
    other = data.draw(st.sampled_from(FILES), label="spliced from")
    command = data.draw(st.sampled_from(commands), label="command")
    if where.exists():
        shutil.rmtree(where)
    run_dir = copy_run(finished, where / "case")
    if command == "resume":
        as_stopped(run_dir)
    original = (finished / name).read_bytes()
    damaged = data.draw(mutated(original, (finished / other).read_bytes()), label="bytes")
    (run_dir / name).write_bytes(damaged)
    checked_call(command, run_dir, where / "out")


@settings(max_examples=60)  # of the default profile's 100: each calls a command on a folder
@given(data=st.data())
def test_mutated_run_folders(finished: Path, tmp_path: Path, data: st.DataObject) -> None:
    _check_mutation(finished, tmp_path / "m", data, READERS)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_mutated_run_folders_many(finished: Path, tmp_path: Path, data: st.DataObject) -> None:
    _check_mutation(finished, tmp_path / "m", data, [*READERS, "plot"])


# ---------------------------------------------------------------- the real entry point


@pytest.mark.parametrize(
    "text",
    [
        "seed: 1\nseed: 2\n",
        "algorithm:\n  population_size: " + "9" * 400 + "\n",
        "\udcff\udcfe: " + "[" * 500 + "]" * 500 + "\n",
    ],
)
def test_the_real_entry_point_on_bad_configs(tmp_path: Path, text: str) -> None:
    """A few of the fuzzers' documents through ``python -m evo``, as a user runs it."""
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8", errors="surrogateescape")
    result = subprocess.run(
        [sys.executable, "-m", "evo", "run", str(config), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("evo: error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_control_characters_in_a_message_are_escaped(tmp_path: Path) -> None:
    """Found by the fuzzer: a key of control characters went to the terminal as is (a
    record separator splits the line for Python, an ESC sequence clears the screen)."""
    config = tmp_path / "keys.yaml"
    config.write_text('"\\x1E\\e[2J\\u202e": null\ngenerations: 1\n')
    outcome = _in(tmp_path / "cwd", "run", str(config), "--dry-run")
    assert outcome.status == 2
    assert outcome.stderr.startswith("evo: error: \\x1e\\x1b[2J\\u202e: unknown key"), outcome
