"""Where a generation runs once the workers are up: here while the work would end before
the cluster's round trip and its share of the work would."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from evo.backends.startup import RoundVenue, Venue


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


def test_gradient_rounds_run_where_they_were_measured_to_be_faster() -> None:
    venue = RoundVenue(enabled=True)
    now = [0.0]
    venue.clock = lambda: now[0]

    def rounds(count: int, here_s: float, there_s: float) -> list[bool]:
        places = []
        for _ in range(count):
            places.append(venue.begin(starting=False))
            now[0] += here_s if places[-1] else there_s
        return places

    assert venue.begin(starting=True) and venue.begin(starting=True)  # workers starting
    now[0] += 5.0  # rounds while the workers start are not measured
    # the cluster first, then here; here is faster: it stays here, probing every 16th
    probe = RoundVenue.PROBE_EVERY
    assert rounds(1 + probe + 1, 0.01, 0.05) == [False] + [True] * probe + [False]
    # the cluster got faster than here (episodes got long): its median decides
    assert rounds(6, 0.20, 0.04)[-3:] == [False, False, False]
    off = RoundVenue(enabled=False)
    off.clock = venue.clock
    assert not any(off.begin(starting=False) for _ in range(5))


def test_a_cluster_is_worth_starting_only_for_rounds_it_could_speed_up() -> None:
    venue = RoundVenue(enabled=True)
    assert venue.worth_starting(threads=2)  # nothing measured yet
    venue.begin(starting=True)
    for _ in range(18):  # a PPO round: 18 batches of 3 ms, each a round trip there
        venue.ran_here(0.003)
    venue.begin(starting=True)
    assert not venue.worth_starting(threads=2)  # saves 27 ms, costs 180 ms
    venue.ran_here(0.036)  # a REINFORCE round: one batch of 36 ms
    venue.begin(starting=True)
    assert venue.worth_starting(threads=2)  # saves 18 ms, costs 10 ms
    assert not venue.worth_starting(threads=1)
