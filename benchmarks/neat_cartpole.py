"""neat-python on CartPole-v1, the peer evo's CartPole wall time is measured against.

A plain NEAT set-up as neat-python's examples have it: a population of 50 feed-forward
genomes, fitness the mean return of 2 episodes, run until a genome reaches 500 (the
fitness threshold: neat-python's own stop rule) or 100 generations. Time it as a whole
process::

    python benchmarks/neat_cartpole.py --seed 0

Needs ``pip install neat-python`` (not a dependency of evo).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import gymnasium
import neat
import numpy as np

CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 500
pop_size              = 50
reset_on_extinction   = False
no_fitness_termination = False

[DefaultGenome]
activation_default      = tanh
activation_mutate_rate  = 0.0
activation_options      = tanh
aggregation_default     = sum
aggregation_mutate_rate = 0.0
aggregation_options     = sum
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_init_type          = gaussian
bias_max_value          = 30.0
bias_min_value          = -30.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob           = 0.5
conn_delete_prob        = 0.5
enabled_default         = True
enabled_mutate_rate     = 0.01
enabled_rate_to_false_add = 0.0
enabled_rate_to_true_add  = 0.0
feed_forward            = True
initial_connection      = full_direct
node_add_prob           = 0.2
node_delete_prob        = 0.2
num_hidden              = 0
num_inputs              = 4
num_outputs             = 2
response_init_mean      = 1.0
response_init_stdev     = 0.0
response_init_type      = gaussian
response_max_value      = 30.0
response_min_value      = -30.0
response_mutate_power   = 0.0
response_mutate_rate    = 0.0
response_replace_rate   = 0.0
single_structural_mutation = False
structural_mutation_surer  = default
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_init_type        = gaussian
weight_max_value        = 30
weight_min_value        = -30
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 20
species_elitism      = 2

[DefaultReproduction]
elitism            = 2
survival_threshold = 0.2
min_species_size   = 2
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--generations", type=int, default=100)
    args = parser.parse_args()
    random.seed(args.seed)
    env = gymnasium.make("CartPole-v1")
    counter = iter(range(10**9))

    def evaluate(genomes, config) -> None:
        for _, genome in genomes:
            net = neat.nn.FeedForwardNetwork.create(genome, config)
            total = 0.0
            for _ in range(args.episodes):
                obs, _ = env.reset(seed=args.seed * 1_000_003 + next(counter))
                done = False
                while not done:
                    action = int(np.argmax(net.activate(obs)))
                    obs, reward, terminated, truncated, _ = env.step(action)
                    total += reward
                    done = terminated or truncated
            genome.fitness = total / args.episodes

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "neat.cfg"
        path.write_text(CONFIG)
        config = neat.Config(
            neat.DefaultGenome,
            neat.DefaultReproduction,
            neat.DefaultSpeciesSet,
            neat.DefaultStagnation,
            str(path),
        )
    population = neat.Population(config)
    best = population.run(evaluate, args.generations)
    print(f"best fitness {best.fitness:.1f} after {population.generation} generations")


if __name__ == "__main__":
    main()
