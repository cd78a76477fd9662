"""``evo replay``: the best policy of a run, driving one episode, as an animated GIF or a still."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evo.config import load_config
from evo.errors import ConfigError, RunFolderError
from evo.policies import MLPSpec, flatten_observation
from evo.problems.normalization import Normalizer, normalizer_from
from evo.problems.rollout import make_env
from evo.records import check_best
from evo.runlog import RunFolder, load_npz
from evo.seeding import final_seeds

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
    params_file: str | Path | None = None,
) -> Replay:
    """Drive one episode with the run's ``best.npz`` and write a GIF (or, with ``still``, a PNG).

    ``seed`` is the episode's reset seed (the track, for the race track); by
    default the first of the final evaluation's held-out episodes. ``params_file``
    is another ``.npz`` laid out like ``best.npz`` (``evo export --member``).
    """
    from PIL import Image

    if seed is not None and not 0 <= seed < 2**32:
        raise ConfigError(f"--track: expected a seed in [0, 2**32), found {seed}")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps: expected a positive integer, found {max_steps}")
    folder = RunFolder.open(run_dir)
    # A replay runs in-process: the run's TLS files need not exist here any more.
    config = load_config(folder.path / "config.yaml", ["backend.security=null"])
    if config.data is not None:
        raise RunFolderError(
            f"{folder.path}: a run on the {config.data.name!r} data set has no episodes to "
            "replay (its test accuracy is in summary.json: evo inspect)"
        )
    if params_file is None:
        source, best = folder.path / "best.npz", folder.read_best()
    elif not Path(params_file).is_file():
        raise ConfigError(f"--params {params_file}: no such file")
    else:
        source = Path(params_file)
        best = check_best(source, load_npz(source))
    try:
        spec = MLPSpec.from_json(str(best["policy_spec"]))
        params = best["params"][None, :].astype(np.float32)
        normalizer = normalizer_from(best)  # the observation statistics it played with
        if spec.num_params != params.shape[1]:
            raise ValueError(f"{params.shape[1]} parameters for a policy of {spec.num_params}")
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise RunFolderError(f"{source}: not a policy: {exc}") from None
    seed = int(final_seeds(1)[0]) if seed is None else seed
    env = make_env(config.env, render_mode="rgb_array")
    try:
        frames, steps, total, terminated, info = _drive(
            env, spec, params, normalizer, seed, still, every, max_steps
        )
    finally:
        env.close()
    if frames[-1] is None:
        raise ConfigError(f"env.id: {config.env.id!r} cannot render images (no rgb_array mode)")
    out = Path(out)
    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
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
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write it: {exc}") from None
    scalars = {k: v for k, v in info.items() if isinstance(v, (bool, int, float, np.generic))}
    return Replay(out, steps, total, terminated, len(images), scalars)


def _drive(
    env: Any,
    spec: MLPSpec,
    params: np.ndarray,
    normalizer: Normalizer | None,
    seed: int,
    still: bool,
    every: int,
    max_steps: int | None,
) -> tuple[list[Any], int, float, bool, dict[str, Any]]:
    """One episode: the frames kept, steps, return, whether it terminated, the last info."""
    obs, _ = env.reset(seed=seed)
    frames: list[Any] = []
    total, steps, terminated, info = 0.0, 0, False, {}
    while max_steps is None or steps < max_steps:
        if steps % every == 0 and not still:
            frames.append(env.render())
        flat = flatten_observation(env.observation_space, obs).astype(np.float32)
        flat = flat if normalizer is None else normalizer(flat)
        action = spec.act(params, flat[None, None, :])[0, 0]
        obs, reward, terminated, truncated, info = env.step(
            action if action.ndim else action.item()
        )
        total, steps = total + float(reward), steps + 1
        if terminated or truncated:
            break
    frames.append(env.render())
    return frames, steps, total, bool(terminated), info
