"""Ask/tell from Python (evo.Search): it optimises, it is deterministic, it matches evo run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evo
from evo.errors import ConfigError
from tests.conftest import REPO


def sphere_fitness(points: np.ndarray) -> np.ndarray:
    return -np.sum(points.astype(np.float64) ** 2, axis=1)


def optimise(seed: int, generations: int = 60) -> evo.Search:
    search = evo.Search(
        "openai_es",
        x0=np.full(10, 3.0),
        seed=seed,
        population_size=32,
        sigma=0.3,
        learning_rate=0.2,
    )
    for _ in range(generations):
        search.tell(sphere_fitness(search.ask()))
    return search


def test_search_improves_a_sphere() -> None:
    search = optimise(seed=0)
    start = float(sphere_fitness(np.full((1, 10), 3.0))[0])
    assert search.generation == 60
    assert search.best_fitness > start / 10  # from -90 to better than -9
    assert float(sphere_fitness(search.solution[None])[0]) > start / 10


def test_same_seed_same_bits_other_seed_other_path() -> None:
    assert np.array_equal(optimise(1, 10).solution, optimise(1, 10).solution)
    assert not np.array_equal(optimise(1, 10).solution, optimise(2, 10).solution)


def test_ask_and_tell_must_alternate() -> None:
    search = evo.Search("ga", x0=np.zeros(4), population_size=8, truncation=4)
    with pytest.raises(RuntimeError, match="tell"):
        search.tell(np.zeros(8))
    candidates = search.ask()
    with pytest.raises(RuntimeError, match="ask"):
        search.ask()
    search.tell(sphere_fitness(candidates))


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"algorithm\.sigmaa: unknown key; did you mean 'sigma'"):
        evo.Search("openai_es", x0=np.zeros(3), sigmaa=0.1)


def test_search_gives_the_numbers_of_evo_run(tmp_path: Path) -> None:
    """The same strategy, seed and function: the run's best fitness per generation is the
    ask/tell loop's."""
    config = evo.load_config(
        {
            "name": "same",
            "seed": 4,
            "generations": 5,
            "function": {"name": "sphere", "dim": 6, "init_std": 1.0},
            "algorithm": {"name": "openai_es", "population_size": 8, "sigma": 0.1},
            "backend": {"kind": "serial"},
            "final_eval": {"episodes": 0},
        }
    )
    result = evo.run(config, tmp_path, quiet=True)
    lines = (result.path / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line)["best_so_far"] for line in lines]
    x0 = config_initial(config)
    search = evo.Search("openai_es", x0=x0, seed=4, population_size=8, sigma=0.1)
    seen = []
    for _ in range(5):
        search.tell(sphere_fitness(search.ask()))
        seen.append(search.best_fitness)
    assert seen == logged


def config_initial(config: evo.ExperimentConfig) -> np.ndarray:
    """The run's initial point, drawn as the run draws it."""
    from evo.problems import make_problem
    from evo.seeding import init_rng

    return make_problem(config).policy.initial_params(init_rng(config.seed))


def test_the_readme_ask_tell_snippet_runs() -> None:
    """The README's loop of your own, as printed there: 100 generations of a sphere."""
    text = (REPO / "README.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "Search(" in b]
    done = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    generation, best = done.stdout.split()[:2]
    assert int(generation) == 100 and float(best) > -0.5  # from -2.5 at the origin
