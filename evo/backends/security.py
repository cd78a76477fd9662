"""TLS for the Dask backend: ``backend.security`` as a ``distributed.Security``.

One certificate and key (signed by the CA) serve every role: the client that
connects to a ``tls://`` scheduler, and the scheduler and worker processes of an
embedded ``LocalCluster`` started with ``backend.security`` set. Encryption is
required: with a security section, a plain ``tcp://`` address is refused.

Without a security section the embedded cluster is still closed to other local users:
its scheduler and workers accept only peers holding the run's temporary credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evo.config import BackendConfig, SecurityConfig

if TYPE_CHECKING:
    from distributed import Security


def make_security(config: SecurityConfig | None) -> Security | None:
    """The ``distributed.Security`` for ``config`` (``None``: no TLS).

    Paths are made absolute here, from the current directory, so that worker
    processes started in other directories read the same files.
    """
    if config is None:
        return None
    from distributed import Security

    ca, cert, key = (
        str(Path(path).resolve()) for path in (config.ca_file, config.cert_file, config.key_file)
    )
    return Security(
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        require_encryption=True,
    )


def embedded_security(config: BackendConfig) -> Security | None:
    """The ``distributed.Security`` of an embedded cluster: ``backend.security`` when set,
    else (``backend.closed_cluster``) a key and self-signed certificate made in memory for
    this cluster alone, which its scheduler, workers and the run's client all require;
    ``None``: plain TCP, open to anyone on this host."""
    if config.security is not None or not config.closed_cluster:
        return make_security(config.security)
    from distributed import Security

    return Security.temporary()


def tls_mismatch(address: str, config: SecurityConfig | None) -> str | None:
    """The one-line problem when ``address`` and ``backend.security`` disagree, else None."""
    tls = address.startswith("tls://")
    if tls and config is None:
        return (
            f"backend.security: expected ca_file, cert_file and key_file to reach the TLS "
            f"scheduler at {address!r}, found no security section"
        )
    if not tls and config is not None:
        return (
            f"backend.scheduler: expected a tls:// address (backend.security is set), "
            f"found {address!r}"
        )
    return None
