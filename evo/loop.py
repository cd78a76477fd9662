"""The one loop of both modes: step (ask -> evaluate -> tell, or a gradient round) -> log
-> stop? -> checkpoint, then the final evaluation."""

from __future__ import annotations

from typing import Any

from evo.methods import Stopwatch
from evo.session import Session
from evo.strategies.base import State


def run_loop(session: Session, state: State) -> dict[str, Any]:
    """Generations from ``state`` until the method's last, a stop rule or an error; then
    the final evaluation. Returns the summary."""
    method, folder = session.method, session.folder
    reason, reached = "generations", None
    session.callbacks.on_start(session.config, method.generations)
    watch = Stopwatch()  # laps: write (the previous generation's), ask, evaluate, tell
    session.commit(state)
    with session.recording_stops():
        for generation in range(state.generation, method.generations):
            watch.lap("write")
            state, step = session.step(state, generation, watch)
            session.tally.evaluations += step.evaluations
            session.tally.env_steps += step.env_steps
            record = session.metrics_line(generation, step, state, watch)
            session.write_events(step.events, generation)
            if step.lineage is not None:
                folder.write_lineage(generation + 1, step.lineage)  # numbered from 1
            folder.append_metrics(record)
            session.callbacks.on_generation(record)
            early = session.stop_reason(record, step.scored)
            # The checkpoint last: it never runs ahead of the log, and it counts the steps
            # of a stop confirmation, so a resumed run counts what this one does.
            if session.checkpoint_due(state):
                session.checkpoint(state)
            session.commit(state)  # a whole generation: what an interrupt saves
            if early:
                reason, reached = early, step.scored if early == "target_fitness" else None
                break
        if session.saved < state.generation:
            session.checkpoint(state)
    folder.append_event("stop", reason=reason, generations=state.generation)
    return session.finish(state, method.final_params(state, reached), reason)
