"""Benchmarks printed by ``evo bench``: figures, not pass/fail (the tests check correctness)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnvBenchResult:
    """Race-track throughput at one batch size."""

    cars: int
    car_steps_per_cpu_s: list[float]  # one figure per repeat

    @property
    def median(self) -> float:
        """Median over the repeats."""
        return statistics.median(self.car_steps_per_cpu_s)


def bench_env(
    cars: Sequence[int] = (1, 64, 256, 1024),
    repeats: int = 5,
    steps: int = 100,
    tracks: int = 8,
    hidden_sizes: tuple[int, ...] = (32, 32),
    report: Callable[[str], None] = print,
) -> list[EnvBenchResult]:
    """Car-steps per CPU-second of the race track, policy forward pass included.

    ``cars`` cars (members x ``tracks`` tracks, as an evaluation batches them)
    step in lockstep; a car whose episode ends starts again at once, so every
    step moves all ``cars`` cars. CPU time of this process is measured, so the
    figure is per core.
    """
    from envs.racetrack.sim import RaceSim, TrackSet
    from envs.racetrack.track import get_track
    from evo.policies import MLPSpec

    track_set = TrackSet.of([get_track(seed) for seed in range(tracks)])
    results = []
    report(
        f"{'cars':>6}  {'car-steps per CPU-second (median of ' + str(repeats) + ')':>44}  all runs"
    )
    for count in cars:
        per_member = min(tracks, count)
        members = count // per_member
        sim = RaceSim(track_set, np.arange(members * per_member) % tracks)
        spec = MLPSpec(
            obs_dim=sim.obs_dim,
            hidden_sizes=hidden_sizes,
            out_dim=2,
            action="continuous",
            action_shape=(2,),
            action_low=(-1.0, -1.0),
            action_high=(1.0, 1.0),
        )
        rng = np.random.default_rng(0)
        params = (rng.standard_normal((members, spec.num_params)) * 0.5).astype(np.float32)
        params[:, -1] += 1.0  # a throttle bias: cars drive rather than idle
        figures = []
        for _ in range(repeats):
            obs = sim.reset()
            start = time.process_time()
            for _ in range(steps):
                actions = spec.act(params, obs.reshape(members, per_member, -1))
                obs, _, done = sim.step(actions.reshape(-1, 2))
                if done.any():
                    obs = sim.reset(np.flatnonzero(done))
            figures.append(members * per_member * steps / (time.process_time() - start))
        result = EnvBenchResult(members * per_member, figures)
        results.append(result)
        runs = " ".join(f"{f / 1000:.0f}k" for f in figures)
        report(f"{result.cars:>6}  {result.median:>44,.0f}  {runs}")
    return results


def _burn(rounds: int) -> float:
    """Fixed CPU-bound work (small matrix products, as a policy's forward pass does)."""
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(rounds):
        x = np.tanh(x @ x.T * np.float32(0.01))
    return time.perf_counter() - start


def hardware_ceiling(client, rounds: int = 4000, repeats: int = 3) -> float:
    """The speedup the cluster's machines allow at best: the same CPU-bound task on every
    worker thread at once, against that task alone on one (median of ``repeats``).

    On shared or hyper-threaded cores, parallel work runs slower per core; no scheduler
    can beat this figure.
    """
    info = client.scheduler_info(n_workers=-1)["workers"]
    slots = [a for a, w in sorted(info.items()) for _ in range(w.get("nthreads", 1))]
    ratios = []
    for _ in range(repeats):
        alone = client.submit(_burn, rounds, pure=False, workers=slots[:1]).result()
        together = client.gather(
            [client.submit(_burn, rounds, pure=False, workers=[a]) for a in slots]
        )
        ratios.append(len(slots) * alone / max(together))
    return statistics.median(ratios)


@dataclass(frozen=True)
class GenerationCost:
    """What one generation cost on one backend."""

    wall_s: float  # ask + evaluate + tell
    evaluate_s: float
    longest_task_s: float
    strategy_s: float  # ask + tell
    members: int
    bytes_sent: int
    bytes_received: int
    transfer_bytes: int

    @property
    def overhead_s(self) -> float:
        """Evaluation time not spent evaluating: beyond the longest task's own work."""
        return max(0.0, self.evaluate_s - self.longest_task_s)


@dataclass(frozen=True)
class ConfigBenchResult:
    """``evo bench CONFIG``: per repeat, the median generation of each backend."""

    serial: list[GenerationCost]
    dask: list[GenerationCost]
    workers: int
    threads: int
    num_params: int
    population: int
    identical: bool
    ceiling: float  # the speedup the hardware allows (see hardware_ceiling)
    speedups: list[float]  # per repeat: median over generations of serial / Dask time


def _median_cost(costs: list[GenerationCost]) -> GenerationCost:
    fields = GenerationCost.__dataclass_fields__
    return GenerationCost(
        **{name: statistics.median(getattr(c, name) for c in costs) for name in fields}
    )


def _generations(config, strategy, backend, state, count: int) -> tuple[list, list, object]:
    """Run ``count`` generations from ``state``: their costs, fitness arrays, the new state."""
    from evo.seeding import strategy_rng

    costs, fitness = [], []
    for generation in range(state.generation, state.generation + count):
        start = time.perf_counter()
        population, state = strategy.ask(strategy_rng(config.seed or 0, generation), state)
        seeds = backend.problem.generation_seeds(config.seed or 0, generation, population.size)
        asked = time.perf_counter()
        evaluation = backend.evaluate(population, seeds, generation)
        evaluated = time.perf_counter()
        evaluation.raise_for_errors(generation)
        state, _ = strategy.tell(state, population, evaluation.fitness)
        told = time.perf_counter()
        costs.append(
            GenerationCost(
                wall_s=told - start,
                evaluate_s=evaluated - asked,
                longest_task_s=evaluation.longest_task_s,
                strategy_s=(asked - start) + (told - evaluated),
                members=population.size,
                bytes_sent=evaluation.bytes_sent,
                bytes_received=evaluation.bytes_received,
                transfer_bytes=evaluation.transfer_bytes,
            )
        )
        fitness.append(evaluation.fitness)
    return costs, fitness, state


def bench_config(
    config,
    *,
    generations: int = 5,
    repeats: int = 3,
    warmup: int = 0,
    scheduler: str | None = None,
    report: Callable[[str], None] = print,
) -> ConfigBenchResult:
    """A few generations of ``config`` serially and on Dask, in this process, ``repeats``
    times (alternating), after one unmeasured generation each (env builds, JIT, imports).

    ``warmup`` generations are first run once in process, so that the measured ones
    are from further into a run (early race-track generations crash within a few
    steps and are not what a run spends its time on).

    Figures are medians over the generations of a repeat, then over repeats. The
    two backends must produce identical fitness; the result says whether they did.
    """
    import dataclasses

    from threadpoolctl import threadpool_limits

    from evo.backends.dask import DaskBackend
    from evo.backends.serial import SerialBackend
    from evo.evaluation import Problem
    from evo.strategies import make_strategy

    problem = Problem.from_config(config)
    strategy = make_strategy(config.algorithm)
    # Serial on one BLAS thread, like each worker, and no spinning BLAS threads here
    # taking CPU from the workers (as `evo run` does beside an embedded cluster).
    limits = threadpool_limits(limits=1, user_api="blas")
    serial = SerialBackend(problem, config.backend)
    dask = DaskBackend(
        problem, dataclasses.replace(config.backend, kind="dask"), scheduler=scheduler
    )
    try:
        from evo.seeding import init_rng

        rng = init_rng(config.seed or 0)
        start = strategy.init(rng, problem.policy.initial_params(rng))
        if warmup:
            _, _, start = _generations(config, strategy, serial, start, warmup)
        workers, threads = dask.cluster_size()
        ceilings: list[float] = []
        report(
            f"evo bench {config.name}: {config.algorithm.name}, population "
            f"{config.algorithm.population_size}, {problem.policy.num_params:,} parameters; "
            f"dask: {workers} workers, {threads} threads"
        )
        report(
            f"generations {warmup + 2}-{warmup + generations + 1} x {repeats} repeats "
            "(after an unmeasured one), medians"
        )
        results: dict[str, list[GenerationCost]] = {"serial": [], "dask": []}
        identical = True
        speedups: list[float] = []
        backends = {"serial": serial, "dask": dask}
        for repeat in range(repeats):
            # Generation by generation, alternating backends: on a shared machine the
            # speed drifts, and a paired ratio per generation cancels most of it.
            states = dict.fromkeys(backends, start)
            costs: dict[str, list[GenerationCost]] = {name: [] for name in backends}
            for _ in range(generations + 1):
                fitness = {}
                for name, backend in backends.items():
                    cost, (fitness[name],), states[name] = _generations(
                        config, strategy, backend, states[name], 1
                    )
                    costs[name] += cost
                identical &= np.array_equal(fitness["serial"], fitness["dask"], equal_nan=True)
            for name in backends:
                results[name].append(_median_cost(costs[name][1:]))
            ratios = [
                s.wall_s / d.wall_s
                for s, d in zip(costs["serial"][1:], costs["dask"][1:], strict=True)
            ]
            speedups.append(statistics.median(ratios))
            ceilings.append(hardware_ceiling(dask.client, repeats=1))
            s, d = results["serial"][-1], results["dask"][-1]
            report(
                f"  repeat {repeat + 1}: serial {s.wall_s * 1e3:8.1f} ms/gen, "
                f"dask {d.wall_s * 1e3:8.1f} ms/gen, speedup {speedups[-1]:.2f} "
                f"(median of paired ratios), hardware ceiling just after {ceilings[-1]:.2f}"
            )
    finally:
        dask.close()
        limits.restore_original_limits()
    result = ConfigBenchResult(
        serial=results["serial"],
        dask=results["dask"],
        workers=workers,
        threads=threads,
        num_params=problem.policy.num_params,
        population=config.algorithm.population_size,
        identical=identical,
        ceiling=statistics.median(ceilings),
        speedups=speedups,
    )
    _report_config(result, report)
    return result


def _report_config(result: ConfigBenchResult, report: Callable[[str], None]) -> None:
    s, d = _median_cost(result.serial), _median_cost(result.dask)
    speedup = statistics.median(result.speedups)
    rows = [
        ("evaluations/s", f"{s.members / s.wall_s:,.0f}", f"{d.members / d.wall_s:,.0f}"),
        ("generation (ms)", f"{s.wall_s * 1e3:.1f}", f"{d.wall_s * 1e3:.1f}"),
        ("  evaluate (ms)", f"{s.evaluate_s * 1e3:.1f}", f"{d.evaluate_s * 1e3:.1f}"),
        ("  longest task (ms)", f"{s.longest_task_s * 1e3:.1f}", f"{d.longest_task_s * 1e3:.1f}"),
        ("  ask + tell (ms)", f"{s.strategy_s * 1e3:.1f}", f"{d.strategy_s * 1e3:.1f}"),
        (
            "orchestration overhead (ms/gen)",
            f"{s.overhead_s * 1e3:.1f}",
            f"{d.overhead_s * 1e3:.1f}",
        ),
        ("bytes sent / gen", "-", f"{d.bytes_sent:,.0f}"),
        ("bytes received / gen", "-", f"{d.bytes_received:,.0f}"),
        ("dask worker transfers / gen", "-", f"{d.transfer_bytes:,.0f}"),
    ]
    report(f"{'':34}{'serial':>14}{'dask':>14}")
    for label, a, b in rows:
        report(f"{label:34}{a:>14}{b:>14}")
    runs = ", ".join(f"{x:.2f}" for x in result.speedups)
    report(f"speedup (dask vs serial)          {speedup:.2f}  (repeats: {runs})")
    report(f"parallel efficiency               {speedup / max(1, result.threads):.0%}")
    report(
        f"hardware ceiling                  {result.ceiling:.2f}  (the same CPU-bound task on "
        f"all {result.threads} threads at once vs alone; no scheduler beats it)"
    )
    dense = result.population * result.num_params * 4
    moved = d.bytes_sent + d.bytes_received + d.transfer_bytes
    report(
        f"traffic vs shipping every member's vector: {moved:,.0f} of {dense:,.0f} bytes "
        f"({moved / dense:.3%})"
    )
    report(f"fitness identical on both backends: {'yes' if result.identical else 'NO'}")


def _rss_bytes() -> int:
    """This process's resident set size (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            import os

            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def soak(
    config,
    generations: int = 1000,
    *,
    baseline: int = 50,
    scheduler: str | None = None,
    report: Callable[[str], None] = print,
) -> dict[str, float]:
    """Run ``config`` for ``generations`` through the real loop (run folder in a temporary
    directory, nothing stops it early) and watch the orchestrator's memory.

    Returns the RSS after ``baseline`` generations, at the end and at its highest,
    and the growth from the baseline to the end in percent.
    """
    import dataclasses
    import tempfile

    from evo.loop import run
    from evo.reporting import Reporter

    samples: list[int] = []

    class Probe(Reporter):
        def generation(self, record: dict, total: int) -> None:
            samples.append(_rss_bytes())
            done = record["generation"] + 1
            if done % max(1, generations // 10) == 0 or done == baseline:
                report(f"  generation {done:>6}: RSS {samples[-1] / 2**20:8.1f} MiB")

    config = dataclasses.replace(
        config,
        generations=generations,
        stop=dataclasses.replace(config.stop, target_fitness=None, max_time_s=None),
        final_eval=dataclasses.replace(config.final_eval, episodes=0),
    )
    report(f"soak {config.name}: {generations} generations, orchestrator RSS")
    with tempfile.TemporaryDirectory(prefix="evo-soak-") as runs_dir:
        run(config, runs_dir, scheduler=scheduler, reporter=Probe(quiet=True))
    base = samples[min(baseline, len(samples)) - 1]
    figures = {
        "rss_baseline_mib": base / 2**20,
        "rss_end_mib": samples[-1] / 2**20,
        "rss_max_mib": max(samples[baseline - 1 :] or samples) / 2**20,
        "growth_percent": 100.0 * (samples[-1] - base) / base,
    }
    report(
        f"RSS after {baseline} generations {figures['rss_baseline_mib']:.1f} MiB, at the end "
        f"{figures['rss_end_mib']:.1f} MiB (highest {figures['rss_max_mib']:.1f} MiB): "
        f"growth {figures['growth_percent']:+.1f}%"
    )
    return figures


@dataclass(frozen=True)
class RoundCost:
    """What one gradient round cost on one backend."""

    wall_s: float  # plan + compute + reduce and step
    compute_wall_s: float  # the backend's part: tasks and their traffic
    longest_task_s: float
    step_s: float  # reduction of the sums and the optimizer step, in the orchestrator
    bytes_sent: int
    bytes_received: int

    @property
    def overhead_s(self) -> float:
        """The backend's time beyond the longest task's own work."""
        return max(0.0, self.compute_wall_s - self.longest_task_s)


def _rounds(trainer, backend, state, count: int) -> tuple[list[RoundCost], object]:
    """Run ``count`` rounds of gradient training from ``state``: their costs, the new state."""
    costs = []
    for _ in range(count):
        start = time.perf_counter()
        state, _, run, split = trainer.round(backend, state)
        costs.append(
            RoundCost(
                wall_s=time.perf_counter() - start,
                compute_wall_s=split.evaluate_s,
                longest_task_s=run.longest_task_s,
                step_s=split.ask_s + split.tell_s,
                bytes_sent=run.bytes_sent,
                bytes_received=run.bytes_received,
            )
        )
    return costs, state


def bench_gradient(
    config,
    *,
    rounds: int = 5,
    repeats: int = 3,
    report: Callable[[str], None] = print,
) -> dict[str, float]:
    """Data-parallel scaling of a ``mode: gradient`` config: the same rounds in process,
    on an embedded cluster of 1 worker and on one of 2 (single-threaded workers),
    alternating round by round so machine drift cancels in the paired ratios.

    Prints per backend the median round and its split (the longest task's compute,
    the backend's overhead beyond it, the reduction and optimizer step), the speedup
    of 2 workers over 1 (median of paired ratios, per repeat), and whether all three
    ended with bit-identical parameters.
    """
    import dataclasses

    from threadpoolctl import threadpool_limits

    from evo.backends.dask import DaskBackend
    from evo.backends.serial import SerialBackend
    from evo.evaluation import Problem
    from evo.gradient.loop import make_trainer
    from evo.seeding import init_rng

    problem = Problem.from_config(config)
    trainer = make_trainer(config, problem)
    # Serial on one BLAS thread like each worker; numpy's spinning BLAS threads in this
    # process would otherwise take CPU from the workers between their rounds.
    limits = threadpool_limits(limits=1, user_api="blas")
    backends = {"serial": SerialBackend(problem, config.backend)}
    try:
        for workers in (1, 2):
            settings = dataclasses.replace(
                config.backend, kind="dask", workers=workers, scheduler=None
            )
            backends[f"{workers} worker{'s' if workers > 1 else ''}"] = DaskBackend(
                problem, settings
            )
        rng = init_rng(config.seed or 0)
        start = trainer.init(problem.policy.initial_params(rng))
        report(
            f"evo bench {config.name}: gradient ({trainer.name}), batch "
            f"{config.gradient.batch_size}, {config.gradient.shards} shards, "
            f"{problem.policy.num_params:,} parameters"
        )
        report(f"rounds 2-{rounds + 1} x {repeats} repeats (after an unmeasured one), medians")
        results: dict[str, list[RoundCost]] = {name: [] for name in backends}
        speedups: list[float] = []
        ceilings: list[float] = []
        task_ceilings: list[float] = []
        identical = True
        for repeat in range(repeats):
            states = dict.fromkeys(backends, start)
            costs: dict[str, list[RoundCost]] = {name: [] for name in backends}
            for _ in range(rounds + 1):
                for name, backend in backends.items():
                    cost, states[name] = _rounds(trainer, backend, states[name], 1)
                    costs[name] += cost
            reference = states["serial"].params
            identical &= all(np.array_equal(s.params, reference) for s in states.values())
            for name in backends:
                results[name] += costs[name][1:]
            ratios = [
                one.wall_s / two.wall_s
                for one, two in zip(costs["1 worker"][1:], costs["2 workers"][1:], strict=True)
            ]
            speedups.append(statistics.median(ratios))
            ceilings.append(hardware_ceiling(backends["2 workers"].client, repeats=1))
            task_ceilings.append(_task_ceiling(backends["2 workers"].client, trainer, start))
            report(
                f"  repeat {repeat + 1}: "
                + ", ".join(
                    f"{name} {statistics.median(c.wall_s for c in costs[name][1:]) * 1e3:.1f} ms"
                    for name in backends
                )
                + f"; 2 vs 1 workers {speedups[-1]:.2f}, hardware ceiling just after "
                f"{ceilings[-1]:.2f}, this task's {task_ceilings[-1]:.2f}"
            )
    finally:
        # Newest first: each embedded cluster restores the log level it found when it
        # closes, and the older one's close would otherwise be logged.
        for backend in reversed(backends.values()):
            backend.close()
        limits.restore_original_limits()
    names = list(backends)
    medians = {name: _median_round(results[name]) for name in names}
    report(f"{'per round (median)':30}" + "".join(f"{name:>14}" for name in names))
    rows = [
        ("round (ms)", lambda c: f"{c.wall_s * 1e3:.1f}"),
        ("  longest task (ms)", lambda c: f"{c.longest_task_s * 1e3:.1f}"),
        ("  backend overhead (ms)", lambda c: f"{c.overhead_s * 1e3:.1f}"),
        ("  reduce + step (ms)", lambda c: f"{c.step_s * 1e3:.1f}"),
        ("bytes sent", lambda c: f"{c.bytes_sent:,.0f}"),
        ("bytes received", lambda c: f"{c.bytes_received:,.0f}"),
    ]
    for label, show in rows:
        report(f"{label:30}" + "".join(f"{show(medians[name]):>14}" for name in names))
    speedup = statistics.median(speedups)
    runs = ", ".join(f"{x:.2f}" for x in speedups)
    report(f"speedup 2 workers vs 1         {speedup:.2f}  (repeats: {runs})")
    report(
        f"hardware ceiling               {statistics.median(ceilings):.2f}  (the same CPU-bound "
        "task on both workers at once vs alone; no scheduler beats it)"
    )
    report(
        f"this task's ceiling            {statistics.median(task_ceilings):.2f}  (each half of a "
        "round's shards on its own worker, both at once, vs one half alone: memory-bound "
        "work scales less than the CPU-bound ceiling)"
    )
    versus_serial = medians["serial"].wall_s / medians["2 workers"].wall_s
    report(f"speedup 2 workers vs serial    {versus_serial:.2f}  (serial: one thread, in process)")
    report(f"parameters identical on all three: {'yes' if identical else 'NO'}")
    return {
        "speedup": speedup,
        "versus_serial": versus_serial,
        "ceiling": statistics.median(ceilings),
        "task_ceiling": statistics.median(task_ceilings),
        "identical": float(identical),
    }


def _task_ceiling(client, trainer, state, repeats: int = 3) -> float:
    """The 2-vs-1-worker speedup a gradient round's own work allows: the first half of
    the shards alone on one worker, against both halves at once on two (median)."""
    from evo.gradient.trainer import ShardWork

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])[:2]
    half = trainer.config.shards // 2
    halves = [ShardWork(0, half, state.generation), ShardWork(half, 2 * half, state.generation)]
    ratios = []
    for _ in range(repeats):
        args = (trainer.task, trainer.problem, state.params)
        alone = client.submit(*args, halves[0], pure=False, workers=workers[:1]).result()
        together = client.gather(
            [
                client.submit(*args, work, pure=False, workers=[worker])
                for work, worker in zip(halves, workers, strict=True)
            ]
        )
        ratios.append(2 * alone.seconds / max(r.seconds for r in together))
    return statistics.median(ratios)


def _median_round(costs: list[RoundCost]) -> RoundCost:
    fields = RoundCost.__dataclass_fields__
    return RoundCost(
        **{name: statistics.median(getattr(c, name) for c in costs) for name in fields}
    )
