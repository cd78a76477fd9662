"""The ``backend`` section of the config schema: where evaluation runs, and TLS for Dask."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evo.config.options import Section, option
from evo.errors import ConfigError
from evo.messages import join


@dataclass(frozen=True)
class SecurityConfig(Section):
    """TLS for the Dask backend: PEM files, relative paths from the current directory.

    The same certificate and key serve every role (client, and the scheduler and
    workers of an embedded cluster); peers must present a certificate signed by
    the CA.
    """

    ca_file: str | None = option(None, "CA certificate (PEM) that signs every peer's certificate")
    cert_file: str | None = option(None, "this side's certificate (PEM), signed by ca_file")
    key_file: str | None = option(None, "the private key (PEM, unencrypted) of cert_file")

    def check(self, path: str) -> None:
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is None:
                raise ConfigError(
                    f"{join(path, name)}: expected a file path (ca_file, cert_file and key_file "
                    "go together), found null"
                )
            file = Path(value)
            if not file.is_file() or not os.access(file, os.R_OK):
                raise ConfigError(f"{join(path, name)}: expected a readable file, found {value!r}")


# A Dask scheduler's address: a scheme (tcp://, tls://, ...) or none, a host name or an
# [IPv6] literal, a port; what distributed.Client accepts.
SCHEDULER_ADDRESS = re.compile(r"^([a-z+]+://)?(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):\d+$")


@dataclass(frozen=True)
class BackendConfig(Section):
    """Where evaluation runs: in-process or on a Dask cluster."""

    kind: Literal["dask", "serial"] = option("dask", "dask (default) or serial (in-process)")
    workers: int | None = option(None, "local worker processes (null: one per core)", ge=1)
    scheduler: str | None = option(
        None,
        "address of an existing Dask scheduler, tcp://HOST:PORT or HOST:PORT (else "
        "DASK_SCHEDULER_ADDRESS, else Dask's config scheduler-address, else local)",
    )
    chunk_size: Literal["auto"] | int = option("auto", "members per task, or auto", ge=1)
    connect_timeout_s: float = option(10.0, "how long to try reaching a scheduler", gt=0)
    worker_timeout_s: float = option(
        60.0, "how long to wait for a worker when the cluster has none, then stop", gt=0
    )
    straggler_factor: float = option(
        2.0,
        "when nothing finishes for this many median task times, run the chunks still out "
        "again on other workers (0: never)",
        ge=0,
    )
    security: SecurityConfig | None = option(
        None, "TLS certificates for tls:// schedulers and the embedded cluster (null: no TLS)"
    )
    start_after_s: float = option(
        3.0,
        "an embedded cluster is started once generations have run this long in this process "
        "(0: at once); a run that ends sooner never starts one",
        ge=0,
    )
    placement: Literal["auto", "cluster"] = option(
        "auto",
        "auto: a generation of evo's own envs, functions and data sets runs in this process "
        "while that is measured to be faster than the cluster's round trip; cluster: on the "
        "workers whenever they are up",
    )
    closed_cluster: bool = option(
        True,
        "the embedded cluster (without backend.security) speaks TLS with credentials made "
        "for this run alone, so no other local user can connect to it (false: plain tcp://)",
    )

    def check(self, path: str) -> None:
        if self.scheduler is not None and not SCHEDULER_ADDRESS.match(self.scheduler):
            raise ConfigError(
                f"{join(path, 'scheduler')}: expected an address like tcp://HOST:PORT or "
                f"HOST:PORT, found {self.scheduler!r}"
            )
