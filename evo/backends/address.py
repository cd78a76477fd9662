"""Where the scheduler of a run is: ``--scheduler``, the config, ``DASK_SCHEDULER_ADDRESS``
or Dask's own config, or nowhere (an embedded cluster is started).

Nothing here imports Dask unless Dask's config could hold an address: a run that never
starts a cluster (a short one, a serial one) does not pay Dask's import (0.1-0.15 s).
"""

from __future__ import annotations

import os
import site
import sys

from evo.config import BackendConfig
from evo.config.backend import SCHEDULER_ADDRESS
from evo.errors import ConfigError

ENVIRONMENT = "DASK_SCHEDULER_ADDRESS"


def address_source(config: BackendConfig, scheduler: str | None = None) -> tuple[str, str] | None:
    """(address as given, where it was given), or None when none is: ``--scheduler``, then
    the config, then ``DASK_SCHEDULER_ADDRESS``, then ``scheduler-address`` in Dask's own
    config (its YAML files, ``DASK_CONFIG``)."""
    candidates = [
        (scheduler, "--scheduler"),
        (config.scheduler, "backend.scheduler"),
        (os.environ.get(ENVIRONMENT), ENVIRONMENT),
    ]
    for value, source in candidates:
        if value:
            return str(value).strip(), source
    if dask_config_may_be_set():
        import dask

        if value := dask.config.get("scheduler-address", None):
            return str(value).strip(), "Dask's config (scheduler-address)"
    return None


def dask_config_paths() -> list[str]:
    """The folders Dask reads YAML config from, in Dask's order (``dask.config.paths``
    without ``DASK_CONFIG``, which :func:`dask_config_may_be_set` sees as a ``DASK_``
    variable)."""
    paths = [
        os.getenv("DASK_ROOT_CONFIG", "/etc/dask"),
        os.path.join(sys.prefix, "etc", "dask"),
        *[os.path.join(prefix, "etc", "dask") for prefix in site.PREFIXES],
        os.path.join(os.path.expanduser("~"), ".config", "dask"),
    ]
    return list(dict.fromkeys(paths))


def dask_config_may_be_set() -> bool:
    """Whether Dask's config could differ from its packaged defaults (which hold no
    scheduler address): Dask is imported already (a caller may have set it), a ``DASK_``
    variable is in the environment, or one of Dask's config folders exists."""
    if "dask" in sys.modules or any(name.startswith("DASK_") for name in os.environ):
        return True
    return any(os.path.exists(path) for path in dask_config_paths())


def normalize_address(address: str, config: BackendConfig) -> str:
    """``HOST:PORT`` -> ``tcp://HOST:PORT`` (``tls://`` when ``backend.security`` is set),
    as ``distributed.Client`` reads it; an address with a scheme is kept."""
    if "://" in address:
        return address
    return ("tls://" if config.security is not None else "tcp://") + address


def check_address(config: BackendConfig, scheduler: str | None = None) -> tuple[str, str] | None:
    """The scheduler address to connect to and where it was given (None: none is, start an
    embedded cluster); a malformed one, or one whose scheme does not match
    ``backend.security``, raises :class:`ConfigError`. Nothing is contacted."""
    from evo.backends.security import tls_mismatch

    found = address_source(config, scheduler)
    if found is None:
        return None
    given, source = found
    if not SCHEDULER_ADDRESS.match(given):
        raise ConfigError(
            f"{source}: expected an address like tcp://HOST:PORT or HOST:PORT, found {given!r}"
        )
    address = normalize_address(given, config)
    if problem := tls_mismatch(address, config.security):
        raise ConfigError(problem)
    return address, source
