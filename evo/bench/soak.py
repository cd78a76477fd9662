"""``evo bench CONFIG --soak N``: a long run through the real loop, watching its memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evo.config import ExperimentConfig


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
    config: ExperimentConfig,
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

    from evo.callbacks import Callback
    from evo.experiment import run

    samples: list[int] = []

    class Probe(Callback):
        def on_generation(self, record: dict) -> None:
            samples.append(_rss_bytes())
            done = record["generation"]
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
        run(config, runs_dir, scheduler=scheduler, quiet=True, callbacks=[Probe()])
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
