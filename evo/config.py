"""Experiment config: YAML read with ``safe_load`` into typed, frozen dataclasses.

Every mistake stops with a :class:`ConfigError` whose message is one line: the
dotted key, what was expected, what was found and, where it helps, "did you
mean ...". Strategies declare their own section (a dataclass subclassing
:class:`AlgorithmConfig`) and are picked by the ``algorithm.name`` tag.
"""

from __future__ import annotations

import dataclasses
import difflib
import operator
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from evo.errors import ConfigError


def option(default: Any, doc: str, **bounds: float) -> Any:
    """A config field with its documentation and numeric bounds (``gt``, ``ge``, ``le``, ``lt``)."""
    if isinstance(default, (list, dict)):
        frozen = tuple(default) if isinstance(default, list) else default
        return field(
            default_factory=lambda: frozen if isinstance(frozen, tuple) else dict(frozen),
            metadata={"doc": doc, **bounds},
        )
    return field(default=default, metadata={"doc": doc, **bounds})


@dataclass(frozen=True)
class Section:
    """Base of every config section: cross-field checks go in :meth:`check`."""

    def check(self, path: str) -> None:
        """Raise :class:`ConfigError` when fields contradict each other."""


@dataclass(frozen=True)
class EnvConfig(Section):
    """The fitness evaluation: a registered gymnasium environment."""

    id: str = option("CartPole-v1", "a registered gymnasium env id, or module:EnvId")
    kwargs: dict[str, Any] = option({}, "keyword arguments for gymnasium.make")
    episodes: int = option(1, "episodes per member; fitness is their mean return", ge=1)
    common_seeds: bool = option(
        False, "all members of a generation play the same episodes (common random numbers)"
    )
    max_steps: int | None = option(None, "step limit per episode (null: the env's own)", ge=1)
    on_error: Literal["stop", "penalize"] = option(
        "stop", "a member whose env raises: stop the run (after a checkpoint) or score -inf"
    )

    def check(self, path: str) -> None:
        import importlib

        import gymnasium

        import envs  # noqa: F401  (registers the project's own environments)

        # gymnasium's "module:EnvId" form imports the module that registers the env.
        module, _, env_id = self.id.rpartition(":")
        if module:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ConfigError(
                    f"{join(path, 'id')}: cannot import module {module!r} for {self.id!r}: {exc}"
                ) from None
        if env_id not in gymnasium.registry:
            raise ConfigError(
                f"{join(path, 'id')}: expected a registered gymnasium env id, "
                f"found {self.id!r}{suggest(env_id, list(gymnasium.registry))}"
            )


@dataclass(frozen=True)
class FunctionConfig(Section):
    """A benchmark function as the fitness, instead of an env and a policy network."""

    name: Literal["sphere", "rastrigin"] = option("sphere", "the function (minimised)")
    dim: int = option(100, "dimensions: the parameters of each member", ge=1)
    init_std: float = option(1.0, "spread of the starting point around the origin", gt=0)


@dataclass(frozen=True)
class DataConfig(Section):
    """A supervised data set as the fitness: the policy network is a classifier."""

    name: str = option("digits", "the data set (see `evo.datasets.DATASETS`)")
    batch_size: int = option(
        256, "training examples per generation, the same for every member", ge=1
    )
    fitness: Literal["neg_loss", "accuracy"] = option(
        "neg_loss", "minus the mean cross-entropy on the minibatch, or the accuracy on it"
    )
    eval_every: int = option(
        10, "generations between test-accuracy records of the solution in metrics.jsonl", ge=1
    )

    def check(self, path: str) -> None:
        from evo.datasets import DATASETS

        if self.name not in DATASETS:
            raise ConfigError(
                f"{join(path, 'name')}: expected one of {', '.join(map(repr, DATASETS))}, "
                f"found {describe(self.name)}{suggest(self.name, list(DATASETS))}"
            )
        train_size = DATASETS[self.name].train_size
        if self.batch_size > train_size:
            raise ConfigError(
                f"{join(path, 'batch_size')}: expected at most {train_size} (the training "
                f"examples of {self.name!r}), found {self.batch_size}"
            )


@dataclass(frozen=True)
class PolicyConfig(Section):
    """The network: an MLP from flattened observations to actions."""

    hidden_sizes: tuple[int, ...] = option([32], "widths of the hidden layers", ge=1)
    activation: Literal["tanh", "relu"] = option("tanh", "hidden-layer activation")


@dataclass(frozen=True)
class AlgorithmConfig(Section):
    """Base of the strategies' own sections; ``name`` picks the strategy."""

    name: str = option("openai_es", "the strategy (see `evo.strategies.REGISTRY`)")
    population_size: int = option(64, "members evaluated per generation", ge=1)


@dataclass(frozen=True)
class GradientConfig(Section):
    """Gradient training of the same network (``mode: gradient``).

    On a data set: data-parallel minibatch training of the classifier. The
    training set is cut into ``shards`` fixed parts; every step takes
    ``batch_size / shards`` examples from each, workers return gradient sums
    over whole blocks of shards, and the sums are added in a fixed tree order,
    so 1, 2 or N workers give the same bits. On an env: policy gradient
    (REINFORCE with a learned value baseline), ``batch_size`` episodes a round.
    """

    optimizer: Literal["sgd", "adam"] = option("adam", "sgd (with momentum) or adam")
    learning_rate: float = option(0.01, "step size", gt=0)
    momentum: float = option(0.9, "sgd: momentum (0: plain SGD)", ge=0, lt=1)
    beta1: float = option(0.9, "adam: first-moment decay", ge=0, lt=1)
    beta2: float = option(0.999, "adam: second-moment decay", ge=0, lt=1)
    epsilon: float = option(1e-8, "adam: denominator floor", gt=0)
    weight_decay: float = option(0.0, "L2 coefficient added to the gradient", ge=0)
    batch_size: int = option(
        256, "examples per step (data sets), or episodes per round (envs)", ge=1
    )
    epochs: float | None = option(
        None,
        "data sets: passes over the training set (replaces generations; null: use them)",
        gt=0,
    )
    shards: int = option(
        8, "fixed parts of the batch, a power of two: the unit of work and of reduction", ge=1
    )
    local_steps: int = option(
        1,
        "data sets: SGD steps each shard's replica takes between averaging (1: synchronous)",
        ge=1,
    )
    method: Literal["reinforce", "ppo"] = option(
        "reinforce", "envs: REINFORCE with a value baseline, or PPO (clipped surrogate)"
    )
    ppo_epochs: int = option(4, "ppo: passes over each round's episodes", ge=1)
    minibatches: int = option(4, "ppo: optimizer steps per pass (each shard's steps split)", ge=1)
    clip: float = option(0.2, "ppo: the probability ratio's clipping range", gt=0, lt=1)
    gae_lambda: float = option(
        0.95, "ppo: generalised advantage estimation's lambda (1: Monte Carlo returns)", ge=0, le=1
    )
    gamma: float = option(0.99, "envs: discount of the returns", ge=0, le=1)
    value_coef: float = option(
        0.5, "envs: weight of the value baseline's loss (0: no baseline)", ge=0
    )
    log_std: float = option(
        -0.5, "envs with continuous actions: log standard deviation of the Gaussian policy"
    )

    def check(self, path: str) -> None:
        if self.shards & (self.shards - 1):
            raise ConfigError(
                f"{join(path, 'shards')}: expected a power of two, found {self.shards}"
            )
        if self.batch_size % self.shards:
            raise ConfigError(
                f"{join(path, 'batch_size')}: expected a multiple of shards ({self.shards}), "
                f"found {self.batch_size}"
            )


@dataclass(frozen=True)
class SecurityConfig(Section):
    """TLS for the Dask backend: PEM files, relative paths from the current directory.

    The same certificate and key serve every role (client, and the scheduler and
    workers of an embedded cluster); peers must present a certificate signed by
    the CA.
    """

    ca_file: str | None = option(None, "CA certificate (PEM) that signs every peer's certificate")
    cert_file: str | None = option(None, "this side's certificate (PEM), signed by ca_file")
    key_file: str | None = option(None, "the private key (PEM, unencrypted) of cert_file")

    def check(self, path: str) -> None:
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is None:
                raise ConfigError(
                    f"{join(path, name)}: expected a file path (ca_file, cert_file and key_file "
                    "go together), found null"
                )
            file = Path(value)
            if not file.is_file() or not os.access(file, os.R_OK):
                raise ConfigError(f"{join(path, name)}: expected a readable file, found {value!r}")


@dataclass(frozen=True)
class BackendConfig(Section):
    """Where evaluation runs: in-process or on a Dask cluster."""

    kind: Literal["dask", "serial"] = option("dask", "dask (default) or serial (in-process)")
    workers: int | None = option(None, "local worker processes (null: one per core)", ge=1)
    scheduler: str | None = option(
        None, "address of an existing Dask scheduler (else DASK_SCHEDULER_ADDRESS, else local)"
    )
    chunk_size: Literal["auto"] | int = option("auto", "members per task, or auto", ge=1)
    connect_timeout_s: float = option(10.0, "how long to try reaching a scheduler", gt=0)
    worker_timeout_s: float = option(
        60.0, "how long to wait for a worker when the cluster has none, then stop", gt=0
    )
    straggler_factor: float = option(
        2.0,
        "when nothing finishes for this many median task times, run the chunks still out "
        "again on other workers (0: never)",
        ge=0,
    )
    security: SecurityConfig | None = option(
        None, "TLS certificates for tls:// schedulers and the embedded cluster (null: no TLS)"
    )

    def check(self, path: str) -> None:
        if self.scheduler is not None and not re.match(r"^[a-z+]+://\S+:\d+$", self.scheduler):
            raise ConfigError(
                f"{join(path, 'scheduler')}: expected an address like tcp://HOST:PORT, "
                f"found {self.scheduler!r}"
            )


@dataclass(frozen=True)
class StopConfig(Section):
    """Conditions that end a run before ``generations`` is reached."""

    target_fitness: float | None = option(
        None, "stop when the strategy's solution scores at least this (see confirm_episodes)"
    )
    confirm_episodes: int = option(
        20,
        "fresh episodes the solution must also average target_fitness on (0: trust training; "
        "data runs: its fitness on the whole training split instead)",
        ge=0,
    )
    max_time_s: float | None = option(None, "stop after this many seconds of wall time", gt=0)


@dataclass(frozen=True)
class CheckpointConfig(Section):
    """How often the full search state is saved (always at the end too)."""

    every: int = option(10, "generations between checkpoints", ge=1)
    keep: int = option(3, "checkpoints kept on disk (older ones are removed)", ge=1)


@dataclass(frozen=True)
class FinalEvalConfig(Section):
    """Evaluation of the final solution on fresh episodes (seeds disjoint from training)."""

    episodes: int = option(
        20, "fresh episodes; 0 skips the final evaluation (data runs: the test split, always)", ge=0
    )
    threshold: float | None = option(
        None,
        "mean return that counts as solved (null: the env's reward_threshold; "
        "data runs: test accuracy)",
    )


@dataclass(frozen=True)
class ExperimentConfig(Section):
    """A whole experiment: what to evolve, on what, where, and for how long."""

    name: str = option("experiment", "run name: the run folder is runs/<name>-<timestamp>")
    seed: int | None = option(0, "run seed (null: drawn at start and recorded)", ge=0)
    generations: int = option(100, "maximum number of generations", ge=1)
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    function: FunctionConfig | None = option(
        None, "a benchmark function as the fitness (replaces env and policy; null: use the env)"
    )
    data: DataConfig | None = option(
        None, "a supervised data set as the fitness (replaces env; null: use the env)"
    )
    algorithm: AlgorithmConfig = field(default_factory=lambda: default_algorithm())
    mode: Literal["evolution", "gradient"] = option(
        "evolution", "evolve the network (algorithm) or train it with gradients (gradient)"
    )
    gradient: GradientConfig = field(default_factory=GradientConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    stop: StopConfig = field(default_factory=StopConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    final_eval: FinalEvalConfig = field(default_factory=FinalEvalConfig)

    def check(self, path: str) -> None:
        if self.mode == "gradient" and self.function is not None:
            raise ConfigError(
                "mode: expected evolution with a function section (gradient training needs "
                "a data set or an env), found 'gradient'"
            )
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise ConfigError(
                f"name: expected letters, digits, '_', '.' or '-' (it names a folder), "
                f"found {self.name!r}"
            )
        if self.data is not None and self.function is not None:
            raise ConfigError(
                "data: expected a data set or a function as the fitness, not both "
                "(found a data section and a function section)"
            )


def default_algorithm() -> AlgorithmConfig:
    """The default strategy section (OpenAI-ES with its defaults)."""
    from evo.strategies import REGISTRY

    return REGISTRY["openai_es"].config_class()


# --------------------------------------------------------------------------- loading


def load_config(
    path: str | os.PathLike[str], overrides: typing.Sequence[str] = ()
) -> ExperimentConfig:
    """Read a YAML experiment file, apply ``KEY=VALUE`` overrides, validate everything."""
    raw = read_yaml_mapping(path)
    apply_overrides(raw, overrides)
    return from_dict(raw)


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; errors name the file and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: expected a YAML file, found a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of config keys at the top level, found {describe(data)}"
        )
    return data


def apply_overrides(raw: dict[str, Any], overrides: typing.Sequence[str]) -> None:
    """Apply ``--set a.b.c=VALUE`` overrides in place; the value is parsed as YAML."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE with a dotted KEY like algorithm.sigma=0.05"
            )
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: the value {text!r} is not valid YAML") from None
        node = raw
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"--set {key}: {prefix} is {describe(child)}, not a section with keys"
                )
            node = child
        node[parts[-1]] = value


def from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Validate a plain mapping (as YAML gives it) into an :class:`ExperimentConfig`."""
    return build(ExperimentConfig, raw, "")


def to_dict(config: Section) -> dict[str, Any]:
    """The config as plain YAML-able data: ``from_dict(to_dict(c)) == c``."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = plain(config)
    # The tag first, then the strategy's own keys, reads best in a saved file.
    algorithm = data.get("algorithm")
    if isinstance(algorithm, dict):
        data["algorithm"] = {"name": algorithm.pop("name"), **algorithm}
    return data


def dump_yaml(config: ExperimentConfig) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=False)


# --------------------------------------------------------------------------- typed building


def build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from ``data``, checking keys, types and bounds."""
    if cls is AlgorithmConfig:
        cls = _algorithm_class(data, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys, found {describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            hint = suggest(str(key), list(fields), listing=True)
            raise ConfigError(f"{join(path, str(key))}: unknown key{hint}")
    hints = typing.get_type_hints(cls)
    values = {
        name: convert(hints[name], data[name], join(path, name), fields[name].metadata)
        for name in fields
        if name in data
    }
    instance = cls(**values)
    instance.check(path)
    return instance


def _algorithm_class(data: Any, path: str) -> type:
    from evo.strategies import REGISTRY

    name = data.get("name", "openai_es") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in REGISTRY:
        hint = suggest(name, list(REGISTRY)) if isinstance(name, str) else ""
        raise ConfigError(
            f"{join(path, 'name')}: expected one of {', '.join(map(repr, REGISTRY))}, "
            f"found {describe(name)}{hint}"
        )
    return REGISTRY[name].config_class


def convert(tp: Any, value: Any, path: str, meta: typing.Mapping[str, Any]) -> Any:
    """Check ``value`` against type ``tp`` (and bounds in ``meta``); return it converted."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(tp)
        if value is None and type(None) in arms:
            return None
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return convert(arm, value, path, meta)
            except ConfigError:
                if typing.get_origin(arm) is not Literal and _same_kind(arm, value):
                    raise  # the right type, a wrong value: that arm's message is the precise one
        choices = [c for a in arms if typing.get_origin(a) is Literal for c in typing.get_args(a)]
        hint = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
        raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}{hint}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool):
            hint = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
            raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}{hint}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if origin is tuple:
        (item_type, _) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}")
        return tuple(convert(item_type, v, f"{path}[{i}]", meta) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{path}: expected {expected(tp)}, found {describe(value)}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, found {describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, found {describe(value)}")
        return _bounded(value, path, meta, "an integer")
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string: accept what Python reads as a number.
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{path}: expected a number, found {describe(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, found {describe(value)}")
        if value != value:
            raise ConfigError(f"{path}: expected a number, found NaN")
        return _bounded(float(value), path, meta, "a number")
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, found {describe(value)}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # a bug in a Section


def _same_kind(tp: Any, value: Any) -> bool:
    """Whether ``value`` has the Python type that config type ``tp`` asks for."""
    if typing.get_origin(tp) is Literal:
        return any(type(c) is type(value) for c in typing.get_args(tp))
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    if not isinstance(tp, type):
        return False
    return isinstance(value, tp) and not (tp is int and isinstance(value, bool))


_BOUNDS = (
    ("gt", ">", operator.gt),
    ("ge", ">=", operator.ge),
    ("lt", "<", operator.lt),
    ("le", "<=", operator.le),
)


def _bounded(value: float, path: str, meta: typing.Mapping[str, Any], what: str) -> Any:
    for key, symbol, holds in _BOUNDS:
        if key in meta and not holds(value, meta[key]):
            raise ConfigError(f"{path}: expected {what} {symbol} {meta[key]}, found {value!r}")
    return value


# --------------------------------------------------------------------------- messages


def join(path: str, key: str) -> str:
    """Dotted key of ``key`` inside ``path``."""
    return f"{path}.{key}" if path else key


def expected(tp: Any) -> str:
    """Human description of a config type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(expected(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {expected(typing.get_args(tp)[0])}s".replace("an integers", "integers")
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        type(None): "null",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def describe(value: Any) -> str:
    """Short description of a found value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return repr(value)


def suggest(word: str, options: list[str], listing: bool = False) -> str:
    """A "did you mean" hint (or the list of valid options) for a message."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if listing and options:
        return f" (expected one of: {', '.join(options)})"
    return ""
