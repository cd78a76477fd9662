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
    config = from_dict(tiny_config(backend={"kind": "dask"}))
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
