"""A supervised data set as the fitness: each member is a classifier, scored on the
generation's minibatch of training examples (the same for every member)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evo.config import DataConfig, ExperimentConfig
from evo.datasets import DATASETS, classification_scores, dataset_info, load, minibatch_indices
from evo.errors import ConfigError
from evo.messages import describe, join, suggest
from evo.policies import MLPSpec
from evo.problems.base import Chunk, ChunkResult, EvaluateParams


def check_data(data: DataConfig, path: str = "data") -> None:
    """That the data set exists and the minibatch fits in its training split."""
    if data.name not in DATASETS:
        raise ConfigError(
            f"{join(path, 'name')}: expected one of {', '.join(map(repr, DATASETS))}, "
            f"found {describe(data.name)}{suggest(data.name, list(DATASETS))}"
        )
    train_size = DATASETS[data.name].train_size
    if data.batch_size > train_size:
        raise ConfigError(
            f"{join(path, 'batch_size')}: expected at most {train_size} (the training "
            f"examples of {data.name!r}), found {data.batch_size}"
        )


@dataclass(frozen=True)
class DataProblem:
    """A data set and the classifier network; the run seed names each minibatch."""

    name: str
    batch_size: int
    fitness: Literal["neg_loss", "accuracy"]
    seed: int  # the run seed: with the generation, it names the minibatch
    policy: MLPSpec  # the classifier: its argmax is the predicted class
    eval_every: int = 10
    kind: str = "data"
    reward_threshold: float | None = None
    batched: bool = False
    splits_episodes: bool = False  # one trial a member

    @property
    def safe_in_process(self) -> bool:
        """evo's own data sets and classifier: safe to evaluate in this process."""
        return True

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> DataProblem:
        """The data set the config names, with a classifier shaped for it."""
        data = config.data
        assert data is not None
        check_data(data)
        info = dataset_info(data.name)
        classifier = MLPSpec(
            obs_dim=info.features,
            hidden_sizes=config.policy.hidden_sizes,
            out_dim=info.classes,
            activation=config.policy.activation,
            bias=config.policy.has_bias,
            action="discrete",  # the argmax is the predicted class
        )
        return cls(
            data.name, data.batch_size, data.fitness, config.seed or 0, classifier, data.eval_every
        )

    def generation_seeds(self, seed: int, generation: int, size: int) -> np.ndarray:
        """A member's one "episode seed" is the number of its minibatch: the generation's,
        the same for every member."""
        return np.full((size, 1), generation, dtype=np.uint32)

    def evaluate(self, params: np.ndarray, chunk: Chunk) -> ChunkResult:
        """Fitness of a chunk on its minibatches; its "steps" are the examples scored."""
        minibatch = chunk.episode_seeds[:, 0].astype(np.int64)
        fitness = np.empty(len(chunk.indices), dtype=np.float64)
        for generation in np.unique(minibatch):
            rows = np.flatnonzero(minibatch == generation)
            fitness[rows] = self.member_fitness(params[rows], int(generation))
        steps = np.full(len(chunk.indices), self.batch_size, dtype=np.int64)
        return ChunkResult(indices=chunk.indices, fitness=fitness, steps=steps)

    def member_fitness(self, params: np.ndarray, generation: int) -> np.ndarray:
        """Minus the mean cross-entropy (or the accuracy) of each member on the minibatch."""
        features, labels = load(self.name, "train")
        rows = minibatch_indices(self.seed, generation, self.batch_size, len(labels))
        loss, accuracy = self.scores(params, features[rows], labels[rows])
        return accuracy if self.fitness == "accuracy" else -loss

    def scores(
        self, params: np.ndarray, features: np.ndarray, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean cross-entropy and accuracy per member (float32 network, float64 scores).

        Every member sees the same ``(1, rows, features)`` block, broadcast: one
        matmul per member, so its numbers do not depend on the chunk it is in.
        """
        logits = self.policy.forward(np.asarray(params, dtype=np.float32), features[None])
        return classification_scores(logits, labels)

    def split_scores(
        self, params: np.ndarray, split: Literal["train", "test"]
    ) -> tuple[float, np.ndarray]:
        """One parameter vector on a whole split: its mean cross-entropy, and which
        examples it classifies right (bool per example)."""
        features, labels = load(self.name, split)
        logits = self.policy.forward(np.asarray(params, dtype=np.float32)[None], features[None])
        loss, _ = classification_scores(logits, labels)
        return float(loss[0]), np.argmax(logits[0], axis=-1) == labels

    def split_fitness(self, params: np.ndarray, split: Literal["train", "test"]) -> float:
        """The fitness of one parameter vector on a whole split (as on a minibatch)."""
        loss, correct = self.split_scores(params, split)
        return float(correct.mean()) if self.fitness == "accuracy" else -loss

    def episodes_per_member(self) -> int:
        """One minibatch."""
        return 1

    def samples(self, evaluations: int, env_steps: int) -> int:
        """Examples scored (a data run's "steps")."""
        return env_steps

    def confirm(self, params: np.ndarray, seeds: np.ndarray, evaluate: EvaluateParams) -> float:
        """A minibatch is the lucky draw: the fitness on the whole training split."""
        return self.split_fitness(params, "train")

    def final_scores(
        self, params: np.ndarray, seeds: np.ndarray, evaluate: EvaluateParams
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The held-out test split instead of episodes: each example scores 1 if classified
        right, else 0, so the mean (and the solved threshold) is the test accuracy."""
        test_loss, correct = self.split_scores(params, "test")
        returns = correct.astype(np.float64)
        return returns, {"test_accuracy": float(returns.mean()), "test_loss": test_loss}

    def record(self, params: np.ndarray, generation: int, last: bool) -> dict[str, Any]:
        """Test (and whole training split) scores of the solution, every ``eval_every``
        generations and at the last one; null on other lines."""
        keys = ("test_loss", "test_accuracy", "train_loss", "train_accuracy")
        if (generation + 1) % self.eval_every and not last:
            return dict.fromkeys(keys)
        test_loss, test_correct = self.split_scores(params, "test")
        train_loss, train_correct = self.split_scores(params, "train")
        scores = (test_loss, test_correct.mean(), train_loss, train_correct.mean())
        return {key: float(value) for key, value in zip(keys, scores, strict=True)}

    def summary_fields(self) -> dict[str, Any]:
        """The data set learned."""
        return {"env_id": None, "function": None, "data": self.name}
