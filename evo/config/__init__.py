"""Experiment config: YAML read with ``safe_load`` into typed, frozen dataclasses.

Every mistake stops with a :class:`~evo.errors.ConfigError` whose message is one
line: the dotted key, what was expected, what was found and, where it helps,
"did you mean ...".
"""

from __future__ import annotations

from evo.config.backend import BackendConfig, SecurityConfig
from evo.config.load import apply_overrides, dump_yaml, from_dict, load_config, read_yaml_mapping
from evo.config.options import Section, build, option, set_key, to_dict
from evo.config.schema import (
    ALGORITHMS,
    AlgorithmConfig,
    CheckpointConfig,
    DataConfig,
    EnvConfig,
    ExperimentConfig,
    FinalEvalConfig,
    FunctionConfig,
    GradientConfig,
    LoggingConfig,
    PolicyConfig,
    StopConfig,
    default_algorithm,
    register_algorithm,
)
from evo.errors import ConfigError

__all__ = [
    "ALGORITHMS",
    "AlgorithmConfig",
    "BackendConfig",
    "CheckpointConfig",
    "ConfigError",
    "DataConfig",
    "EnvConfig",
    "ExperimentConfig",
    "FinalEvalConfig",
    "FunctionConfig",
    "GradientConfig",
    "LoggingConfig",
    "PolicyConfig",
    "Section",
    "SecurityConfig",
    "StopConfig",
    "apply_overrides",
    "build",
    "default_algorithm",
    "dump_yaml",
    "from_dict",
    "load_config",
    "option",
    "read_yaml_mapping",
    "register_algorithm",
    "set_key",
    "to_dict",
]
