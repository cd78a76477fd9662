"""``evo replay``: the best policy of a run, driving one episode, as an animated GIF or a still."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evo.config import load_config
from evo.errors import ConfigError, RunFolderError
from evo.evaluation import make_env
from evo.policies import MLPSpec, flatten_observation
from evo.runlog import RunFolder

FRAME_MS = 100  # one env step of the race track is 0.1 s


@dataclass(frozen=True)
class Replay:
    """What a replay drove: frames written, steps, return, and how it ended."""

    path: Path
    steps: int
    episode_return: float
    terminated: bool
    frames: int
    info: dict[str, object]  # the env's last info (e.g. the race track's progress, crashed)


def replay(
    run_dir: str | Path,
    out: str | Path,
    seed: int | None = None,
    still: bool = False,
    every: int = 2,
    max_steps: int | None = None,
) -> Replay:
    """Drive one episode with the run's ``best.npz`` and write a GIF (or, with ``still``, a PNG).

    ``seed`` is the episode's reset seed (the track, for the race track); by
    default the first of the final evaluation's held-out episodes.
    """
    from PIL import Image

    from evo.seeding import final_seeds

    folder = RunFolder.open(run_dir)
    config = load_config(folder.path / "config.yaml")
    best = folder.read_best()
    spec = MLPSpec.from_json(str(best["policy_spec"]))
    params = best["params"][None, :]
    env = make_env(config.env, render_mode="rgb_array")
    if env.metadata.get("render_modes") and "rgb_array" not in env.metadata["render_modes"]:
        raise ConfigError(f"env.id: {config.env.id!r} cannot render images (no rgb_array mode)")
    seed = int(final_seeds(1)[0]) if seed is None else seed
    obs, _ = env.reset(seed=seed)
    frames, total, steps, terminated, info = [], 0.0, 0, False, {}
    limit = max_steps or 10**9
    while steps < limit:
        if steps % every == 0 and not still:
            frames.append(env.render())
        flat = flatten_observation(env.observation_space, obs).astype(np.float32)
        action = spec.act(params, flat[None, None, :])[0, 0]
        obs, reward, terminated, truncated, info = env.step(
            action if action.ndim else action.item()
        )
        total, steps = total + float(reward), steps + 1
        if terminated or truncated:
            break
    frames.append(env.render())
    env.close()
    if frames[-1] is None:
        raise RunFolderError(f"{config.env.id!r} rendered no image")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    if still:
        images[-1].save(out, format="PNG")
    else:
        images = [image.quantize(colors=64, dither=Image.Dither.NONE) for image in images]
        images[0].save(
            out,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=FRAME_MS * every,
            loop=0,
            optimize=True,
        )
    scalars = {k: v for k, v in info.items() if isinstance(v, (bool, int, float, np.generic))}
    return Replay(out, steps, total, bool(terminated), len(images), scalars)
