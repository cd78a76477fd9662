"""The config schema: typed, frozen dataclass sections with documented, bounded options.

Strategies declare their own section (a dataclass subclassing
:class:`AlgorithmConfig`) and register it under its ``algorithm.name`` tag;
what a section's values mean for an env or a data set (is the env registered,
does the data set exist) is checked by the problems, before any run folder is
made. This package imports nothing of evo but its errors and messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from evo.config.backend import BackendConfig
from evo.config.options import Section, option
from evo.errors import ConfigError
from evo.messages import describe, join, suggest


@dataclass(frozen=True)
class EnvConfig(Section):
    """The fitness evaluation: a registered gymnasium environment."""

    id: str = option("CartPole-v1", "a registered gymnasium env id, or module:EnvId")
    entry_point: str | None = option(
        None, "an env class that is not registered, package.module:Class (replaces id)"
    )
    kwargs: dict[str, Any] = option({}, "keyword arguments for gymnasium.make")
    episodes: int = option(1, "episodes per member; fitness is their mean return", ge=1)
    common_seeds: bool = option(
        False, "all members of a generation play the same episodes (common random numbers)"
    )
    paired_seeds: bool = option(
        False,
        "the two members of a mirrored pair (the same noise, opposite signs) play the same "
        "episodes, so their difference is the perturbation's alone; pairs play different ones",
    )
    max_steps: int | None = option(None, "step limit per episode (null: the env's own)", ge=1)
    fast: bool = option(
        True,
        "step the MuJoCo v5 locomotion envs in evo's lockstep version (the same bits as "
        "gymnasium's env, faster) where it reproduces the id and kwargs; false: gymnasium's",
    )
    reward_shift: float = option(
        0.0,
        "subtracted from every step's reward in the fitness the strategy learns from (ARS's "
        "shift of the survival bonus); logged fitness, best so far, stop rule and final "
        "evaluation are unshifted",
    )
    on_error: Literal["stop", "penalize"] = option(
        "stop", "a member whose env raises: stop the run (after a checkpoint) or score -inf"
    )
    reuse_instances: bool = option(
        False,
        "an env played one instance at a time (or a vector env not evo's own) keeps its "
        "instances from episode to episode (reset with each episode's seed), saving their "
        "making; only for an env whose reset clears all its state: gymnasium's BipedalWalker "
        "keeps its Box2D world, so its next episode would depend on the ones the instance "
        "played before, and a run's numbers on its chunking (false: a new instance for every "
        "episode, a new vector env for every chunk)",
    )


@dataclass(frozen=True)
class FunctionConfig(Section):
    """A function of the parameters as the fitness, instead of an env and a policy network."""

    name: Literal["sphere", "rastrigin"] = option("sphere", "a built-in benchmark (minimised)")
    entry_point: str | None = option(
        None, "your own function, package.module:callable (replaces name; workers import it)"
    )
    dim: int = option(100, "dimensions: the parameters of each member", ge=1)
    init_std: float = option(1.0, "spread of the starting point around the origin", gt=0)
    minimize: bool | None = option(
        None, "minimise the function (null: the built-ins are minimised, your own maximised)"
    )
    batched: bool = option(
        True, "your function takes a (members, dim) array; false: one (dim,) vector a call"
    )


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


@dataclass(frozen=True)
class PolicyConfig(Section):
    """The network: an MLP, or a linear map, from flattened observations to actions."""

    kind: Literal["mlp", "linear"] = option(
        "mlp", "mlp, or linear: action = M obs, no hidden layer (the policy of ARS)"
    )
    hidden_sizes: tuple[int, ...] = option(
        [32], "mlp: widths of the hidden layers (linear: [], none)", ge=1
    )
    activation: Literal["tanh", "relu"] = option("tanh", "mlp: hidden-layer activation")
    bias: bool | None = option(
        None, "a bias on every layer (null: yes for mlp, none for linear, as in ARS)"
    )

    normalize_observations: bool = option(
        False,
        "feed the policy (obs - mean) / std, the statistics of every observation of the run's "
        "training episodes before the generation (ARS V2; the first generation: 0 and 1)",
    )
    observation_clip: float | None = option(
        None, "clip the normalised observations to +-this (null: no clipping)", gt=0
    )
    action_bounds: Literal["tanh", "clip", "raw"] = option(
        "tanh",
        "a bounded Box action: tanh of the outputs scaled into the bounds, the outputs "
        "clipped to them, or the outputs as they are (raw: ARS's code; the env must accept "
        "them, as MuJoCo clamps its controls while its control cost sees them whole)",
    )

    def __post_init__(self) -> None:
        # A linear policy has no hidden layer: the MLP's default widths do not apply to it,
        # so the resolved config says [] rather than the unused [32].
        if self.kind == "linear" and self.hidden_sizes == (32,):
            object.__setattr__(self, "hidden_sizes", ())

    def check(self, path: str) -> None:
        if self.kind == "linear" and self.hidden_sizes:
            raise ConfigError(
                f"{join(path, 'hidden_sizes')}: expected [] for a linear policy (it has no "
                f"hidden layer), found {list(self.hidden_sizes)}"
            )
        if self.observation_clip is not None and not self.normalize_observations:
            raise ConfigError(
                f"{join(path, 'observation_clip')}: expected null unless normalize_observations "
                f"is true, found {self.observation_clip}"
            )

    @property
    def has_bias(self) -> bool:
        """Whether each layer adds a bias (the linear policy of ARS has none by default)."""
        return self.bias if self.bias is not None else self.kind == "mlp"


@dataclass(frozen=True)
class AlgorithmConfig(Section):
    """Base of the strategies' own sections; ``name`` picks the strategy."""

    name: str = option("openai_es", "the strategy (see `evo.strategies.REGISTRY`)")
    population_size: int = option(64, "members evaluated per generation", ge=1)

    @classmethod
    def variant(cls, data: Any, path: str) -> type[Section]:
        """The strategy's own section, by the ``name`` tag."""
        name = data.get("name", DEFAULT_ALGORITHM) if isinstance(data, dict) else None
        if not isinstance(name, str) or name not in ALGORITHMS:
            hint = suggest(name, list(ALGORITHMS)) if isinstance(name, str) else ""
            raise ConfigError(
                f"{join(path, 'name')}: expected one of {', '.join(map(repr, ALGORITHMS))}, "
                f"found {describe(name)}{hint}"
            )
        return ALGORITHMS[name]


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
    every_s: float | None = option(
        None, "also checkpoint once this many seconds passed since the last one (null: off)", gt=0
    )
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
class LoggingConfig(Section):
    """Loggers beside the run folder's own logs (see docs/logging.md); none by default."""

    tensorboard: bool = option(
        False,
        "write TensorBoard event files into RUN/tensorboard/: every metrics column a scalar "
        "per generation, a histogram of the members' fitness (needs evo[tensorboard])",
    )
    mlflow: bool = option(
        False,
        "log an MLflow run: the resolved config as params, every metrics column per generation, "
        "the summary, best.npz and a fitness plot as artifacts (needs evo[mlflow])",
    )
    mlflow_tracking_uri: str | None = option(
        None,
        "where MLflow logs: a URI or a path (null: MLFLOW_TRACKING_URI, else MLflow's default, "
        "a local store in the working directory: mlflow.db and mlruns/)",
    )
    mlflow_experiment: str | None = option(None, "the MLflow experiment (null: the config's name)")


MAX_NAME = 100  # with the timestamp and a suffix, well inside a file system's 255 bytes
NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}")


@dataclass(frozen=True)
class ExperimentConfig(Section):
    """A whole experiment: what to evolve, on what, where, and for how long."""

    name: str = option("experiment", "run name: the run folder is runs/<name>-<timestamp>")
    seed: int | None = option(0, "run seed (null: drawn at start and recorded)", ge=0)
    generations: int = option(100, "maximum number of generations", ge=1)
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    function: FunctionConfig | None = option(
        None, "a function of the parameters as the fitness (replaces env and policy; null: the env)"
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
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def check(self, path: str) -> None:
        if self.mode == "gradient" and self.function is not None:
            raise ConfigError(
                "mode: expected evolution with a function section (gradient training needs "
                "a data set or an env), found 'gradient'"
            )
        if not NAME.fullmatch(self.name):
            shown = repr(self.name) if len(self.name) <= 60 else f"{self.name[:40]!r}..."
            raise ConfigError(
                f"name: expected at most {MAX_NAME} letters, digits, '_', '.' or '-' "
                f"(it names a folder), found {shown} ({len(self.name)} characters)"
            )
        if self.policy.normalize_observations and (self.data or self.function) is not None:
            raise ConfigError(
                "policy.normalize_observations: expected false with a data set or a function "
                "(only an env's observations are normalised), found true"
            )
        if self.policy.normalize_observations and self.mode == "gradient":
            raise ConfigError(
                "policy.normalize_observations: expected false in gradient mode (policy "
                "gradient does not normalise observations yet), found true"
            )
        if self.data is not None and self.function is not None:
            raise ConfigError(
                "data: expected a data set or a function as the fitness, not both "
                "(found a data section and a function section)"
            )


# The strategies' own sections by ``algorithm.name``, filled by each strategy module as it
# is imported (``evo.strategies`` imports them all, and importing ``evo`` imports that).
ALGORITHMS: dict[str, type[AlgorithmConfig]] = {}
DEFAULT_ALGORITHM = "openai_es"


def register_algorithm(name: str, section: type[AlgorithmConfig]) -> None:
    """Make ``algorithm.name: <name>`` read its keys into ``section``."""
    ALGORITHMS[name] = section


def default_algorithm() -> AlgorithmConfig:
    """The default strategy section (OpenAI-ES with its defaults)."""
    return ALGORITHMS[DEFAULT_ALGORITHM]()
