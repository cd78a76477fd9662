"""`evo run` on a real multi-host cluster with network faults: a `dask scheduler` and two
`dask worker` processes in network namespaces of their own, the orchestrator in a fourth,
all on one bridge. The faults are real (links cut, a lagging and stalling connection);
the fitness columns must equal those of a serial run, byte for byte.

Each scenario prints what it injected and how long the run took to recover (`pytest -s`).
Runs as root where the kernel allows namespaces; skipped with the reason elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.backends.netns import (
    Host,
    Lag,
    LaggyProxy,
    Network,
    has_netem,
    ip,
    unavailable,
    wait_until,
)
from tests.certificates import write_certificates
from tests.conftest import FITNESS_COLUMNS, REPO, run_cli, tiny_config, write_config
from tests.dask_processes import _start_scheduler, _start_worker, _stop

EVO = [sys.executable, "-m", "evo"]
GENERATIONS = 16
# Short Dask timeouts, so that a cut link is noticed within seconds (defaults: 30 s; the
# TCP one cannot go under 11 s).
TIMEOUTS = {
    "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s",
    "DASK_DISTRIBUTED__COMM__TIMEOUTS__TCP": "11s",
    "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "10s",
}


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    """Namespaces s (scheduler), a and b (workers), o (orchestrator) on one bridge;
    deleted afterwards whatever happened."""
    reason = unavailable()
    if reason:
        pytest.skip(f"multi-host tests: {reason}")
    network = Network()
    try:
        for name in ("s", "a", "b", "o"):
            network.add(name)
        yield network
    finally:
        network.close()


@pytest.fixture(scope="module")
def certificates(network: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One CA and one certificate for every host of the network."""
    addresses = [network.gateway, *(host.address for host in network.hosts.values())]
    return write_certificates(tmp_path_factory.mktemp("certificates"), addresses)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sphere whose every chunk pauses 0.1 s (generations of a few tenths of a second at
    no CPU cost), checkpointed every generation."""
    settings = tiny_config(
        generations=GENERATIONS,
        function={"entry_point": "tests.helpers:slow_sphere", "dim": 10},
        algorithm={"name": "openai_es", "population_size": 16, "sigma": 0.1},
        backend={
            "kind": "dask",
            "start_after_s": 0,
            "placement": "cluster",
            "connect_timeout_s": 5,
            "worker_timeout_s": 60,
        },
        checkpoint={"every": 1},
        final_eval={"episodes": 1},
    )
    del settings["env"], settings["policy"]
    return write_config(tmp_path_factory.mktemp("config") / "config.yaml", settings)


@pytest.fixture(scope="module")
def serial(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[dict]]:
    """The fitness columns of the same experiment run in-process (``generations``: that
    many instead), each computed once."""
    done: dict[int, list[dict]] = {}

    def columns(generations: int = GENERATIONS) -> list[dict]:
        if generations not in done:
            runs = tmp_path_factory.mktemp("serial")
            sets = ["--set", "backend.kind=serial", "--set", f"generations={generations}"]
            result = run_cli("run", str(config), "--runs-dir", str(runs), "--quiet", *sets)
            assert result.returncode == 0, result.stderr
            done[generations] = _fitness(Path(result.stdout.strip()))
        return done[generations]

    return columns


def _fitness(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in FITNESS_COLUMNS} for line in lines]


def _generations(runs_dir: Path) -> int:
    logged = list(runs_dir.glob("*/metrics.jsonl"))
    return len(logged[0].read_text().splitlines()) if logged else 0


@dataclass
class Cluster:
    """A scheduler in namespace s and a worker in each of a and b, over TCP or TLS; the
    orchestrator runs in o. Everything it starts is stopped by :meth:`close`."""

    network: Network
    protocol: str
    folder: Path
    certificates: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    proxies: list[LaggyProxy] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.logs = open(self.folder / "cluster.log", "w")  # noqa: SIM115  (closed below)

    def flags(self) -> list[str]:
        if self.protocol == "tcp":
            return []
        files = self.certificates
        return [
            *("--tls-ca-file", files["ca_file"]),
            *("--tls-cert", files["cert_file"], "--tls-key", files["key_file"]),
        ]

    def start(self, lag: Lag | None = None) -> str:
        """Scheduler and both workers (worker a through a :class:`LaggyProxy` when ``lag``
        is given); the scheduler's address once both workers have joined."""
        scheduler = self.network.hosts["s"]
        extra = ["--protocol", self.protocol, "--no-dashboard", *self.flags()]
        process, self.address = _start_scheduler(
            self.folder, self.logs, extra, host=scheduler.address, prefix=scheduler.run()
        )
        self.processes.append(process)
        for name in ("a", "b"):
            address = self.address
            if name == "a" and lag is not None:
                proxy = LaggyProxy(self.network.gateway, address.split("://")[1], lag)
                self.proxies.append(proxy)
                address = f"{self.protocol}://{proxy.address}"
            host = self.network.hosts[name]
            self.processes.append(
                _start_worker(address, self.folder, self.logs, self.flags(), **self._on(host))
            )
        wait_until(lambda: self.workers() == 2, 90, "two workers joining", every=0.5)
        return self.address

    @staticmethod
    def _on(host: Host) -> dict:
        return {"host": host.address, "prefix": host.run()}

    def workers(self) -> int:
        """Workers the scheduler knows (asked from this namespace, over the bridge)."""
        from distributed import Client, Security

        security = None
        if self.protocol == "tls":
            files = self.certificates
            security = Security(
                tls_ca_file=files["ca_file"],
                tls_client_cert=files["cert_file"],
                tls_client_key=files["key_file"],
                require_encryption=True,
            )
        with Client(self.address, timeout=10, security=security) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])

    def security_overrides(self) -> list[str]:
        """``--set`` flags giving the run the certificates (TLS only)."""
        if self.protocol == "tcp":
            return []
        return [f"--set=backend.security.{name}={path}" for name, path in self.certificates.items()]

    def evo(self, *args: str) -> subprocess.Popen:
        """`python -m evo ARGS` in namespace o, in a process group of its own."""
        process = subprocess.Popen(
            self.network.hosts["o"].run(*EVO, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in self.processes[::-1]:  # the run, the workers, then the scheduler
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        _stop(self.processes[::-1])
        for proxy in self.proxies:
            proxy.close()
        self.logs.close()


@pytest.fixture(params=["tcp", pytest.param("tls", marks=pytest.mark.slow)])
def cluster(
    request: pytest.FixtureRequest,
    network: Network,
    certificates: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cluster]:
    """A cluster for one test, over TCP and over TLS; stopped, and every link restored,
    afterwards."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )  # workers import tests.helpers
    for name, value in TIMEOUTS.items():
        monkeypatch.setenv(name, value)
    handle = Cluster(network, request.param, tmp_path, certificates)
    try:
        yield handle
    finally:
        handle.close()
        network.heal()


def _finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, out, err


def _run(cluster: Cluster, config: Path, runs_dir: Path, *more: str) -> subprocess.Popen:
    flags = ["--runs-dir", str(runs_dir), "--quiet", "--scheduler", cluster.address]
    return cluster.evo("run", str(config), *flags, *cluster.security_overrides(), *more)


def _report(text: str) -> None:
    print(f"\n[netns] {text}", flush=True)


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_lag_jitter_and_stalls_on_a_worker_link(
    cluster: Cluster, config: Path, serial: Callable[..., list[dict]], tmp_path: Path
) -> None:
    lag = Lag(delay_s=0.020, jitter_s=0.015, stall_every_s=4.0, stall_s=2.0)
    generations = 10  # about 8 s: two stalls
    worker = cluster.network.hosts["a"]
    netem = has_netem(worker.namespace)
    if netem:  # the kernel's own jitter too (packets reordered), on all of a's traffic
        ip("netns", "exec", worker.namespace, "tc", "qdisc", "add", "dev", "eth0", "root",
           "netem", "delay", "20ms", "15ms")  # fmt: skip
    cluster.start(lag)
    started = time.monotonic()
    code, out, err = _finish(
        _run(cluster, config, tmp_path / "runs", f"--set=generations={generations}")
    )
    took = time.monotonic() - started
    assert code == 0, err
    run_dir = Path(out.strip())
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    evaluate = sorted(json.loads(line)["evaluate_s"] for line in lines)
    (proxy,) = cluster.proxies
    _report(
        f"{cluster.protocol}: worker a <-> scheduler through a proxy adding "
        f"{lag.delay_s * 1e3:.0f}±{lag.jitter_s * 1e3:.0f} ms a chunk and a {lag.stall_s:.0f} s "
        f"stall every {lag.stall_every_s:.0f} s: {proxy.chunks} chunks, {proxy.bytes} bytes, "
        f"{len(proxy.stalls)} stalls{'; netem 20±15 ms on a' if netem else ' (no netem here)'}; "
        f"run {took:.1f} s; evaluation of a generation: longest {max(evaluate):.2f} s, "
        f"median {evaluate[len(evaluate) // 2]:.2f} s"
    )
    assert proxy.chunks > 0 and proxy.stalls, "nothing crossed the proxy while it stalled"
    assert _fitness(run_dir) == serial(generations)


def _finished_at(run_dir: Path) -> dict[int, float]:
    """Generation -> when its checkpoint was written (one per generation here)."""
    events = _events(run_dir)
    return {e["generation"]: e["time"] for e in events if e["event"] == "checkpoint"}


@pytest.mark.slow
def test_a_worker_cut_off_for_ten_seconds(
    cluster: Cluster, config: Path, serial: Callable[..., list[dict]], tmp_path: Path
) -> None:
    cluster.start()
    runs = tmp_path / "runs"
    generations = 3 * GENERATIONS  # outlasting the cut, on worker b alone
    run = _run(cluster, config, runs, f"--set=generations={generations}")
    try:
        wait_until(lambda: _generations(runs) >= 3 or run.poll() is not None, 120, "3 generations")
        time.sleep(0.15)  # into the next generation
        assert run.poll() is None, run.communicate()
        cut = time.time()
        cluster.network.cut("a")
        time.sleep(10)
        assert run.poll() is None, "the run ended before the link came back"
        cluster.network.restore("a")
        restored = time.time()
    finally:
        code, out, err = _finish(run)
    assert code == 0, err
    run_dir = Path(out.strip())
    finished = _finished_at(run_dir)
    during = sorted(g for g, t in finished.items() if cut < t < restored)
    after = min(t for t in finished.values() if t > cut)
    seen = ("worker_left", "worker_joined", "stragglers_resubmitted")
    events = _events(run_dir)
    moves = [(e["event"], round(e["time"] - cut, 1)) for e in events if e["event"] in seen]
    _report(
        f"{cluster.protocol}: worker a's link cut for 10 s mid-generation: the next generation "
        f"finished {after - cut:.1f} s after the cut; generations {during} finished during it; "
        f"events (s after the cut): {moves}; last generation {max(finished.values()) - cut:.1f} s "
        "after the cut"
    )
    rejoined = any(e["event"] == "worker_joined" and e["time"] > cut for e in events)
    _report(f"{cluster.protocol}: worker a back in the run before its end: {rejoined}")
    assert moves, "the cut went unnoticed"
    assert _fitness(run_dir) == serial(generations)


@pytest.mark.slow
def test_the_orchestrator_cut_off_stops_with_a_checkpoint_and_resumes(
    cluster: Cluster, config: Path, serial: Callable[..., list[dict]], tmp_path: Path
) -> None:
    address = cluster.start()
    runs = tmp_path / "runs"
    run = _run(cluster, config, runs)
    try:
        wait_until(lambda: _generations(runs) >= 4 or run.poll() is not None, 120, "4 generations")
        assert run.poll() is None, run.communicate()
        cluster.network.cut("o")
        cut = time.monotonic()
        code, out, err = _finish(run, timeout=180)
        stopped = time.monotonic() - cut
    finally:
        cluster.network.restore("o")
    assert code == 1, (out, err)
    (line,) = err.strip().splitlines()
    assert line.startswith("evo: error: ") and "evo resume" in line, line
    (run_dir,) = runs.iterdir()
    (stop,) = [e for e in _events(run_dir) if e["event"] == "stop"]
    assert stop["reason"] == "scheduler_lost", stop
    importable = ["--import-path", str(REPO)]  # the run's function is tests.helpers'
    started = time.monotonic()
    code, out, err = _finish(
        cluster.evo("resume", str(run_dir), "--scheduler", address, "--quiet", *importable)
    )
    resumed = time.monotonic() - started
    _report(
        f"{cluster.protocol}: the orchestrator's link cut after generation {stop['generations']}"
        f" until evo stopped: it stopped {stopped:.1f} s after the cut with {line!r}; the link "
        f"restored, `evo resume --scheduler` finished the run in {resumed:.1f} s"
    )
    assert code == 0, err
    assert _fitness(run_dir) == serial()
