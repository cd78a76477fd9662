"""The command line called in-process, run folders to tamper with, and the checks every
tampered folder must pass: exit 0, or exit 2 with one line on stderr; never a traceback;
nothing changed in the folder on exit 2, nothing written outside it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import tiny_config

# What the readers are asked: every command that opens a run folder. "{out}" is a path
# outside the folder, "{run}" the folder.
COMMANDS: dict[str, list[str]] = {
    "inspect": ["inspect", "{run}"],
    "inspect-events": ["inspect", "{run}", "--events"],
    "inspect-json": ["inspect", "{run}", "--json"],
    "inspect-lineage": ["inspect", "{run}", "--lineage"],
    "inspect-generation": ["inspect", "{run}", "--generation", "2"],
    "plot": ["plot", "{run}", "-o", "{out}/plot.png", "--dpi", "20"],
    "compare": ["compare", "{run}", "{run}"],
    "export-csv": ["export", "{run}", "--csv", "{out}/m.csv", "--events-csv", "{out}/e.csv"],
    "export-lineage": ["export", "{run}", "--lineage-csv", "{out}/l.csv"],
    "export-member": ["export", "{run}", "--member", "3:1", "-o", "{out}/member.npz"],
    "replay": ["replay", "{run}", "--out", "{out}/r.png", "--png", "--max-steps", "5"],
    "resume": ["resume", "{run}", "--quiet"],
}


@dataclass(frozen=True)
class Outcome:
    """What one in-process call of the command line did."""

    status: int
    stdout: str
    stderr: str
    crash: str | None  # the traceback of an exception that escaped ``main``, if any

    def problems(self) -> list[str]:
        """What is wrong with it: a traceback, an exit other than 0 or 2, more than one
        line on stderr with exit 2 (none: all well)."""
        found = []
        if self.crash is not None:
            found.append(f"an exception escaped:\n{self.crash}")
        if "Traceback (most recent call last)" in self.stderr:
            found.append(f"a traceback on stderr:\n{self.stderr}")
        if self.status not in (0, 2):
            found.append(f"exit {self.status}: {self.stderr}")
        lines = self.stderr.strip().splitlines()
        if self.status == 2 and (len(lines) != 1 or not lines[0].startswith("evo: error: ")):
            found.append(f"exit 2 without one error line: {self.stderr!r}")
        return found


def call(*argv: str) -> Outcome:
    """``evo ARGV`` in this process (``evo.cli.main``), its output captured."""
    from evo.cli import main

    out, err = io.StringIO(), io.StringIO()
    status, crash = 0, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
            status = code if isinstance(code, int) else (0 if code is None else 1)
        except BaseException:  # a crash is what the caller reports
            crash = traceback.format_exc()
            status = -1
    return Outcome(status, out.getvalue(), err.getvalue(), crash)


def listing(root: Path) -> dict[str, str]:
    """Every file under ``root`` (but folder locks) by relative path, with its hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != ".lock":
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def stopped_config(**overrides: object) -> dict:
    """A tiny serial CartPole run whose every generation is checkpointed."""
    settings = {"generations": 3, "checkpoint.every": 1, "final_eval.episodes": 2, **overrides}
    return tiny_config(**settings)


def make_run(where: Path, **overrides: object) -> Path:
    """A finished run folder under ``where/runs`` (in-process, serial: a second or so)."""
    where.mkdir(parents=True, exist_ok=True)
    config = where / "run.yaml"
    config.write_text(yaml.safe_dump(stopped_config(**overrides), sort_keys=False))
    outcome = call("run", str(config), "--runs-dir", str(where / "runs"), "--quiet")
    assert outcome.status == 0 and not outcome.problems(), outcome
    return Path(outcome.stdout.strip().splitlines()[-1])


def as_stopped(run_dir: Path) -> None:
    """Make a finished run look stopped after its generations, with more to go (so that
    ``evo resume`` has work to do)."""
    (run_dir / "summary.json").unlink(missing_ok=True)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("generations: 3", "generations: 4"))


def copy_run(source: Path, where: Path) -> Path:
    """A copy of ``source`` at ``where/<its name>``."""
    target = where / source.name
    shutil.copytree(source, target, symlinks=True)
    return target


def checked_call(command: str, run_dir: Path, out: Path) -> Outcome:
    """Call ``command`` (a key of :data:`COMMANDS`) on ``run_dir`` and check the rules:
    exit 0 or a one-line exit 2, nothing changed in the folder on exit 2, nothing written
    outside ``run_dir`` but into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    around = run_dir.parent
    before, outside = (
        listing(run_dir),
        set(listing(around)) - {str(Path(run_dir.name) / p) for p in listing(run_dir)},
    )
    argv = [part.format(run=run_dir, out=out) for part in COMMANDS[command]]
    cwd = os.getcwd()
    os.chdir(out)  # whatever the command writes by default lands here
    try:
        outcome = call(*argv)
    finally:
        os.chdir(cwd)
    problems = outcome.problems()
    if (outcome.status == 2 or command != "resume") and listing(run_dir) != before:
        problems.append(f"the folder changed (exit {outcome.status})")
    after_outside = set(listing(around)) - {str(Path(run_dir.name) / p) for p in listing(run_dir)}
    if not out.is_relative_to(around) and after_outside != outside:
        problems.append(f"files written beside the folder: {after_outside - outside}")
    assert not problems, f"evo {' '.join(argv)}: " + "\n".join(problems)
    return outcome
