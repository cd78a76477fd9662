"""The one owner of the Dask client: what it made it closes, what it was given it leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import evo
from evo.backends.cluster import Connection
from evo.config import BackendConfig, from_dict
from tests.conftest import tiny_config


def test_a_given_client_is_used_and_left_open(client_1worker: Any, tmp_path: Path) -> None:
    connection = Connection.open(BackendConfig(), client=client_1worker)
    assert connection.size() == (1, 1)
    line = connection.describe()
    assert "scheduler at" in line
    # The scheduler's own dashboard, which `evo serve` links to (a sweep's runs are told so).
    port = client_1worker.scheduler_info()["services"]["dashboard"]
    assert line.endswith(f", dashboard http://127.0.0.1:{port}/status"), line
    connection.close()
    assert client_1worker.status == "running"
    config = from_dict(
        tiny_config(backend={"kind": "dask", "start_after_s": 0, "placement": "cluster"})
    )
    result = evo.run(config, tmp_path, client=client_1worker, quiet=True)
    assert result.summary["generations"] == 3 and client_1worker.status == "running"


def test_a_given_cluster_gets_a_client_of_its_own(client_1worker: Any, tmp_path: Path) -> None:
    cluster = client_1worker.cluster
    connection = Connection.open(BackendConfig(), cluster=cluster)
    assert connection.client is not client_1worker and connection.size()[0] == 1
    connection.close()
    assert connection.client.status == "closed" and cluster.status.name == "running"
    result = evo.run(from_dict(tiny_config()), tmp_path, cluster=cluster, quiet=True)
    assert result.summary["generations"] == 3 and cluster.status.name == "running"


def _heartbeat_filter_verdicts(dask_worker: Any) -> list[Any]:
    """On a worker: its logger's filters, and what they do to a heartbeat failure and to
    another error."""
    import logging

    logger = logging.getLogger("distributed.worker")

    def record(message: str) -> logging.LogRecord:
        return logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, (), None)

    heartbeat = record("Failed to communicate with scheduler during heartbeat.")
    other = record("Failed to communicate with scheduler during heartbeat.")
    other.msg = "Compute failed"
    names = [type(f).__name__ for f in logger.filters]
    return [names, bool(logger.filter(heartbeat)), bool(logger.filter(other))]


def test_an_embedded_cluster_keeps_running_workers_heartbeat_errors() -> None:
    connection = Connection.open(BackendConfig(kind="dask", workers=1))
    try:
        verdicts = list(connection.client.run(_heartbeat_filter_verdicts).values())
    finally:
        connection.close()
    # installed once, and a running worker's errors all get through
    assert verdicts == [[["ClosingNoise"], True, True]]


def test_a_closing_worker_drops_only_its_heartbeat_failure() -> None:
    import logging

    from evo.backends.worker_logs import ClosingNoise

    closing = [False]
    noise = ClosingNoise(lambda: closing[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord(
            "distributed.worker", logging.ERROR, __file__, 0, message, (), None
        )

    heartbeat = record("Failed to communicate with scheduler during heartbeat.")
    assert noise.filter(heartbeat) and noise.filter(record("Compute failed"))
    closing[0] = True
    assert not noise.filter(heartbeat) and noise.filter(record("Compute failed"))
