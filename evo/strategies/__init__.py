"""Search strategies, one a file, looked up by the config's ``algorithm.name``."""

from __future__ import annotations

from evo.config import AlgorithmConfig, register_algorithm
from evo.strategies.ars import ARS
from evo.strategies.base import State, Strategy
from evo.strategies.cma_es import CMAES
from evo.strategies.ga import GA
from evo.strategies.openai_es import OpenAIES
from evo.strategies.pgpe import PGPE
from evo.strategies.sep_cma_es import SepCMAES
from evo.strategies.snes import SNES
from evo.strategies.xnes import XNES

REGISTRY: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (OpenAIES, GA, CMAES, SepCMAES, PGPE, SNES, XNES, ARS)
}
for _name, _strategy in REGISTRY.items():
    register_algorithm(_name, _strategy.config_class)


def make_strategy(config: AlgorithmConfig) -> Strategy:
    """The strategy named by ``config.name``, configured by ``config``."""
    return REGISTRY[config.name](config)


__all__ = ["REGISTRY", "State", "Strategy", "make_strategy"]
