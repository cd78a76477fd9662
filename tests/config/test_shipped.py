"""The shipped configs: package data, found by bare name, listed by `evo configs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from evo.config import load_config
from evo.config.shipped import (
    configs_folder,
    first_sentence,
    resolve_config,
    shipped_configs,
    shipped_names,
)
from evo.errors import ConfigError
from tests.conftest import REPO, run_cli


def test_the_shipped_configs_are_the_package_data_the_checkout_shows() -> None:
    assert configs_folder() == REPO / "evo" / "configs"
    names = shipped_names()
    assert "racetrack-es" in names and "cartpole-es" in names
    # The checkout's top-level configs/ is the same folder, so `configs/NAME.yaml` works too.
    assert sorted(p.stem for p in (REPO / "configs").glob("*.yaml")) == names
    assert (REPO / "configs").resolve() == configs_folder().resolve()


def test_every_shipped_config_has_a_one_line_description() -> None:
    for shipped in shipped_configs():
        assert shipped.description.endswith("."), shipped
        assert 10 < len(shipped.description) <= 90, shipped
        assert "\n" not in shipped.description


def test_a_bare_name_resolves_to_the_shipped_config_when_no_such_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = configs_folder() / "cartpole-es.yaml"
    assert resolve_config("cartpole-es") == shipped
    assert resolve_config("cartpole-es.yaml") == shipped
    assert load_config("cartpole-es") == load_config(shipped)
    # A file of that name in the working directory is what is meant.
    (tmp_path / "cartpole-es.yaml").write_text("name: mine\n")
    assert resolve_config("cartpole-es.yaml") == Path("cartpole-es.yaml")
    assert load_config("cartpole-es.yaml").name == "mine"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("cartpole-e", "cartpole-e: file not found; did you mean 'cartpole-es'?"),
        ("nothing-like-it", "nothing-like-it: file not found (`evo configs` lists the shipped"),
        (
            "configs/racetrack-es.yaml",
            "configs/racetrack-es.yaml: file not found; evo ships 'racetrack-es': name it bare",
        ),
    ],
)
def test_a_missing_config_says_which_shipped_one_was_meant(
    source: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(source)
    assert str(caught.value).startswith(message)


def test_first_sentence_of_the_header_comment() -> None:
    assert first_sentence("# One thing. Then more\n# and more.\nname: x\n") == "One thing."
    assert first_sentence("# Spans two\n# lines (v1.2). Rest.\n") == "Spans two lines (v1.2)."
    assert first_sentence("name: x\n# late comment.\n") == ""


def test_evo_configs_lists_every_shipped_config(tmp_path: Path) -> None:
    done = run_cli("configs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "algorithm", "task", "description"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert sorted(rows) == shipped_names()
    assert "openai_es" in rows["cartpole-es"] and "CartPole-v1" in rows["cartpole-es"]
    assert rows["cartpole-es"].endswith("OpenAI-ES on CartPole-v1.")
    assert "envs/RaceTrack-v0" in rows["racetrack-es"]
    assert lines[-1].startswith(f"{len(rows)} configs in ")


def test_evo_configs_name_prints_the_yaml_to_copy(tmp_path: Path) -> None:
    done = run_cli("configs", "cartpole-es", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (configs_folder() / "cartpole-es.yaml").read_text()
    missing = run_cli("configs", "cartpole-e", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == "evo: error: cartpole-e: file not found; did you mean 'cartpole-es'?\n"


def test_evo_run_takes_a_shipped_config_by_name(tmp_path: Path) -> None:
    done = run_cli(
        "run",
        "cartpole-es",
        "--set",
        "generations=1",
        "--set",
        "backend.kind=serial",
        "--set",
        "final_eval.episodes=2",
        "--runs-dir",
        "out",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run = tmp_path / done.stdout.strip()
    assert run.parent == tmp_path / "out" and run.name.startswith("cartpole-es-")
    assert (run / "summary.json").is_file()
