"""Configs from Python: a mapping or a file, overrides, and replace() as one call each."""

from __future__ import annotations

import pytest

import evo
from evo.errors import ConfigError
from tests.conftest import REPO


def test_a_file_with_overrides_and_a_mapping() -> None:
    path = REPO / "evo" / "configs" / "cartpole-es.yaml"
    config = evo.load_config(path, ["algorithm.sigma=0.05", "generations=50"])
    assert config.algorithm.sigma == 0.05 and config.generations == 50
    assert evo.load_config(path).algorithm.sigma != 0.05  # the file itself says otherwise
    mine = evo.load_config({"name": "mine", "function": {"dim": 10}})
    assert mine.function is not None and mine.function.dim == 10 and mine.name == "mine"


def test_replace_one_key_or_many_and_everything_is_checked_again() -> None:
    config = evo.load_config({"name": "mine"})
    wider = config.replace("algorithm.sigma", 0.07)
    assert wider.algorithm.sigma == 0.07 and config.algorithm.sigma != 0.07  # a copy
    both = config.replace({"algorithm.sigma": 0.07, "generations": 5})
    assert (both.algorithm.sigma, both.generations) == (0.07, 5)
    ga = config.replace("algorithm", {"name": "ga", "population_size": 16})
    assert type(ga.algorithm).__name__ == "GAConfig"
    with pytest.raises(ConfigError, match=r"^generations: expected an integer >= 1, found 0$"):
        config.replace("generations", 0)
    with pytest.raises(ConfigError, match="did you mean 'sigma'"):
        config.replace("algorithm.sigmaa", 0.1)


def test_a_mapping_is_not_changed_by_loading_it() -> None:
    raw = {"name": "mine", "algorithm": {"sigma": 0.1}}
    evo.load_config(raw, ["algorithm.sigma=0.2"])
    assert raw == {"name": "mine", "algorithm": {"sigma": 0.1}}


def test_the_public_names() -> None:
    for name in ("run", "resume", "load_config", "Callback", "Search", "Strategy", "Problem"):
        assert getattr(evo, name) is not None
    assert isinstance(evo.__version__, str) and evo.__version__
    with pytest.raises(AttributeError):
        evo.no_such_name  # noqa: B018
