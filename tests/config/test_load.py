"""Config loading: round trips, overrides, and every kind of bad input (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evo.cli import main
from evo.config import BackendConfig, ExperimentConfig, dump_yaml, from_dict, load_config, to_dict
from evo.errors import ConfigError
from tests.conftest import run_cli, tiny_config, write_config


def test_defaults_round_trip_through_yaml(tmp_path: Path) -> None:
    config = from_dict(tiny_config())
    assert from_dict(to_dict(config)) == config
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_yaml(config))
    assert load_config(path) == config


def test_every_default_is_filled_in() -> None:
    config = from_dict({})
    assert isinstance(config, ExperimentConfig)
    data = to_dict(config)
    assert data["algorithm"]["name"] == "openai_es"
    assert {"sigma", "learning_rate", "weight_decay"} <= set(data["algorithm"])
    assert set(data["backend"]) == set(BackendConfig.__dataclass_fields__)
    assert data["backend"]["kind"] == "dask" and data["backend"]["chunk_size"] == "auto"
    assert data["backend"]["workers"] is None and data["backend"]["scheduler"] is None


def test_overrides_parse_values_as_yaml(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", tiny_config())
    config = load_config(
        path,
        [
            "algorithm.sigma=0.05",
            "backend.kind=dask",
            "policy.hidden_sizes=[4, 4]",
            "stop.target_fitness=1e3",
            "env.kwargs={sutton_barto_reward: true}",
        ],
    )
    assert config.algorithm.sigma == 0.05
    assert config.backend.kind == "dask"
    assert config.policy.hidden_sizes == (4, 4)
    assert config.stop.target_fitness == 1000.0
    assert config.env.kwargs == {"sutton_barto_reward": True}


def test_switching_algorithm_by_override(tmp_path: Path) -> None:
    base = tiny_config()
    base["algorithm"] = {"name": "openai_es"}
    path = write_config(tmp_path / "c.yaml", base)
    config = load_config(path, ["algorithm.name=ga"])
    assert config.algorithm.name == "ga"
    assert config.algorithm.truncation == 10


BAD_INPUTS = [
    # (description, config-dict edits or raw text, extra args, expected fragments of the message)
    (
        "unknown top-level key",
        {"generatons": 5},
        [],
        ["generatons", "unknown key", "did you mean 'generations'"],
    ),
    (
        "unknown nested key",
        {"algorithm.sigmaa": 0.1},
        [],
        ["algorithm.sigmaa", "did you mean 'sigma'"],
    ),
    (
        "wrong type",
        {"generations": "ten"},
        [],
        ["generations", "expected an integer", "found 'ten'"],
    ),
    (
        "population <= 0",
        {"algorithm.population_size": 0},
        [],
        ["algorithm.population_size", ">= 1", "found 0"],
    ),
    ("sigma <= 0", {"algorithm.sigma": -0.1}, [], ["algorithm.sigma", "> 0", "found -0.1"]),
    (
        "odd population, antithetic",
        {"algorithm.population_size": 9},
        [],
        ["algorithm.population_size", "even", "found 9"],
    ),
    (
        "unknown env id",
        {"env.id": "CartPol-v1"},
        [],
        ["env.id", "registered gymnasium env id", "did you mean 'CartPole-v1'"],
    ),
    (
        "unknown algorithm",
        {"algorithm.name": "opena_es"},
        [],
        ["algorithm.name", "'openai_es'", "did you mean 'openai_es'"],
    ),
    (
        "bad backend kind",
        {"backend.kind": "dsk"},
        [],
        ["backend.kind", "'dask', 'serial'", "did you mean 'dask'"],
    ),
    (
        "bad list item",
        {"policy.hidden_sizes": [16, -1]},
        [],
        ["policy.hidden_sizes[1]", ">= 1", "found -1"],
    ),
    (
        "GA truncation > population",
        {"algorithm": {"name": "ga", "population_size": 8, "truncation": 9}},
        [],
        ["algorithm.truncation", "at most population_size (8)", "found 9"],
    ),
    ("wrong env kwargs", {"env.kwargs": {"no_such_arg": 1}}, [], ["env.kwargs", "no_such_arg"]),
    (
        "section is a scalar",
        {"backend": "fast"},
        [],
        ["backend", "expected a mapping", "found 'fast'"],
    ),
    (
        "bool for a number",
        {"algorithm.sigma": True},
        [],
        ["algorithm.sigma", "expected a number", "found true"],
    ),
    ("bad name", {"name": "../escape"}, [], ["name", "names a folder", "'../escape'"]),
    ("malformed YAML", "name: x\nalgorithm: {sigma: [\n", [], ["malformed YAML", "line 3"]),
    ("non-mapping document", "- 1\n- 2\n", [], ["expected a mapping", "found a list"]),
    ("empty document", "", [], ["expected a mapping", "found null"]),
    ("missing file", None, [], ["file not found"]),
    (
        "--set without '='",
        {},
        ["--set", "algorithm.sigma"],
        ["--set 'algorithm.sigma'", "KEY=VALUE"],
    ),
    ("--set through a scalar", {}, ["--set", "seed.value=1"], ["--set seed.value", "seed is 7"]),
    (
        "--set with bad YAML",
        {},
        ["--set", "policy.hidden_sizes=[1,"],
        ["--set policy.hidden_sizes", "not valid YAML"],
    ),
    (
        "--set to a bad value",
        {},
        ["--set", "final_eval.episodes=-3"],
        ["final_eval.episodes", ">= 0", "found -3"],
    ),
    (
        "scheduler without a port",
        {},
        ["--scheduler", "tcp://127.0.0.1"],
        ["--scheduler", "tcp://HOST:PORT", "'tcp://127.0.0.1'"],
    ),
    (
        "env kwargs the env rejects",
        {"env": {"id": "envs/RaceTrack-v0", "kwargs": {"num_rays": -5}}},
        [],
        ["env.kwargs", "num_rays"],
    ),
    (
        "unknown named track",
        {"env": {"id": "envs/RaceTrack-v0", "kwargs": {"track": "moon"}}},
        [],
        ["env.kwargs", "unknown track 'moon'"],
    ),
]


def _make_input(tmp_path: Path, edits) -> Path:
    path = tmp_path / "experiment.yaml"
    if edits is None:
        return tmp_path / "does-not-exist.yaml"
    if isinstance(edits, str):
        path.write_text(edits)
        return path
    config = tiny_config()
    for key, value in edits.items():
        if key in config and isinstance(value, dict) and not isinstance(config[key], str):
            config[key] = value
            continue
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return write_config(path, config)


@pytest.mark.parametrize(
    ("edits", "args", "fragments"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, edits, args, fragments) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    keep = runs / "earlier-run.txt"
    keep.write_text("precious")
    path = _make_input(tmp_path, edits)
    code = main(["run", str(path), "--runs-dir", str(runs), *args])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evo: error: ")
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert sorted(p.name for p in runs.iterdir()) == ["earlier-run.txt"]  # no run folder
    assert keep.read_text() == "precious"


def test_yaml_numbers_without_a_dot_are_accepted() -> None:
    # YAML 1.1 reads 1e-3 as a string; a number field accepts it.
    assert (
        from_dict(tiny_config(**{"algorithm.learning_rate": "1e-3"})).algorithm.learning_rate
        == 1e-3
    )
    with pytest.raises(ConfigError, match="expected a number, found 'fast'"):
        from_dict(tiny_config(**{"algorithm.learning_rate": "fast"}))


def test_bad_input_through_the_real_command_line(tmp_path: Path) -> None:
    """No traceback reaches the terminal from the installed entry point."""
    cases = [
        (_make_input(tmp_path, {"algorithm.sigmaa": 1}), "did you mean 'sigma'"),
        (tmp_path / "missing.yaml", "file not found"),
    ]
    for path, fragment in cases:
        result = run_cli("run", str(path), "--runs-dir", str(tmp_path / "runs"))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and fragment in result.stderr
        assert not (tmp_path / "runs").exists()


def test_argparse_errors_are_one_line() -> None:
    result = run_cli("run")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "evo: error:" in result.stderr


def test_schema_matches_saved_config(tmp_path: Path) -> None:
    """Every key the code knows is in a saved config, and a saved config loads as is."""
    data = yaml.safe_load(dump_yaml(from_dict({"algorithm": {"name": "ga"}})))
    assert set(data) == {f for f in ExperimentConfig.__dataclass_fields__}
    assert from_dict(data).algorithm.name == "ga"


def test_runs_dir_that_is_a_file(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path / "c.yaml", tiny_config())
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    code = main(["run", str(path), "--runs-dir", str(blocker)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--runs-dir" in err
    assert blocker.read_text() == "not a folder"
