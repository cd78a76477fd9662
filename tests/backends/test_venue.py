"""Where a generation runs once the workers are up: here while the work would end before
the cluster's round trip and its share of the work would."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from evo.backends.startup import Venue


def generation(steps: int, compute_s: float) -> SimpleNamespace:
    """What the venue reads of an evaluation: its members' steps, fitness and task time."""
    return SimpleNamespace(
        steps=np.full(10, steps // 10), fitness=np.zeros(10), compute_s=compute_s
    )


def test_small_work_stays_here_and_large_work_goes_to_the_cluster() -> None:
    venue = Venue(enabled=True)
    assert not venue.here(threads=2)  # nothing measured: the cluster
    venue.ran_there(0.030, generation(10_000, 0.010), threads=2)  # overhead 25 ms
    assert venue.here(threads=2)  # 10 ms here < 25 + 5 ms there
    venue.ran_here(0.200, generation(200_000, 0.200))  # episodes got long: 1 us a step
    assert not venue.here(threads=2)  # 200 ms here > 25 + 100 ms there


def test_the_cluster_is_measured_again_after_a_run_of_generations_here() -> None:
    venue = Venue(enabled=True)
    venue.ran_there(0.030, generation(10_000, 0.010), threads=2)
    choices = []
    for _ in range(Venue.PROBE_EVERY + 1):
        choices.append(venue.here(threads=2))
        if choices[-1]:
            venue.ran_here(0.010, generation(10_000, 0.010))
    assert choices == [True] * Venue.PROBE_EVERY + [False]


def test_overheads_are_the_median_of_the_last_few_and_a_disabled_venue_never_stays() -> None:
    venue = Venue(enabled=True)
    for overhead in (0.500, 0.004, 0.006, 0.005):  # the first (a warm-up) falls out
        venue.ran_there(overhead + 0.005, generation(10_000, 0.010), threads=2)
    assert np.allclose(venue.overheads, [0.004, 0.006, 0.005])
    assert not venue.here(threads=2)  # 10 ms here > 5 + 5 ms there
    off = Venue(enabled=False)
    off.ran_there(0.5, generation(10, 0.001), threads=2)
    assert not off.here(threads=2)


def test_a_cluster_is_worth_starting_only_for_generations_it_could_speed_up() -> None:
    venue = Venue(enabled=True)
    assert venue.worth_starting(threads=2)  # nothing measured yet
    venue.ran_here(0.015, generation(10_000, 0.015))  # half of 15 ms saves less than 10 ms
    assert not venue.worth_starting(threads=2)
    assert venue.worth_starting(threads=4)  # three quarters of it: more than 10 ms
    assert not venue.worth_starting(threads=1)  # one worker is never faster than here
    venue.ran_here(0.030, generation(10_000, 0.030))
    assert venue.worth_starting(threads=2)
    off = Venue(enabled=False)  # a user's env: the workers, however small its generations
    off.ran_here(0.001, generation(10, 0.001))
    assert off.worth_starting(threads=2)
