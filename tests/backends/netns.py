"""Hosts of a test network: Linux network namespaces on one bridge (iproute2), links that
can be cut and restored, and a TCP proxy that delays and stalls what crosses it.

Names carry this process's id, so test runs in parallel do not meet: namespaces
``evo-PID-NAME``, the bridge ``evPIDbr``, each host's end of a veth pair ``evPIDNAME``,
and the subnet ``10.X.Y.0/24`` with X.Y taken from the pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``ip ARGS`` (iproute2); a failure raises with its message unless ``check`` is off."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no iproute2, the kernel refuses), or
    None: one namespace and one veth pair are made and deleted to find out."""
    if shutil.which("ip") is None:
        return "no `ip` command (Debian: apt-get install iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    name, device = f"evo-{os.getpid()}-probe", f"ev{os.getpid()}pr"
    try:
        ip("netns", "add", name)
        ip("link", "add", device, "type", "veth", "peer", "name", "eth0", "netns", name)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return f"the kernel refuses network namespaces or veth pairs: {exc}"
    finally:
        ip("link", "del", device, check=False)
        ip("netns", "del", name, check=False)
    return None


def has_netem(namespace: str, device: str = "eth0") -> bool:
    """Whether the kernel has the ``netem`` qdisc (it is tried on ``device``, then removed)."""
    added = ip(
        "netns", "exec", namespace, "tc", "qdisc", "add", "dev", device, "root", "netem",
        "delay", "1ms", check=False,
    )  # fmt: skip
    if added.returncode != 0:
        return False
    ip("netns", "exec", namespace, "tc", "qdisc", "del", "dev", device, "root", check=False)
    return True


@dataclass(frozen=True)
class Host:
    """A namespace on the bridge: its name, its address, its veth end on the bridge side."""

    namespace: str
    address: str
    link: str

    def run(self, *command: str) -> list[str]:
        """``command`` as run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *command]


@dataclass
class Network:
    """A bridge in this (root) namespace with an address of its own, and hosts on it."""

    pid: int = field(default_factory=os.getpid)
    hosts: dict[str, Host] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.subnet = f"10.{(self.pid >> 8) & 0xFF}.{self.pid & 0xFF}"
        self.bridge = f"ev{self.pid}br"
        self.gateway = f"{self.subnet}.1"  # this namespace, on the bridge
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add(self, name: str) -> Host:
        """A new namespace with one veth pair to the bridge and the next free address."""
        host = Host(
            f"evo-{self.pid}-{name}", f"{self.subnet}.{len(self.hosts) + 2}", f"ev{self.pid}{name}"
        )
        ip("netns", "add", host.namespace)
        self.hosts[name] = host
        ip(
            "link",
            "add",
            host.link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.namespace,
        )
        ip("link", "set", host.link, "master", self.bridge, "up")
        inside = ["netns", "exec", host.namespace, "ip"]
        ip(*inside, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip(*inside, "link", "set", "eth0", "up")
        ip(*inside, "link", "set", "lo", "up")
        return host

    def cut(self, name: str) -> None:
        """Partition a host: its link to the bridge goes down (packets are lost, no reset)."""
        ip("link", "set", self.hosts[name].link, "down")

    def restore(self, name: str) -> None:
        """Bring a cut host back."""
        ip("link", "set", self.hosts[name].link, "up")

    def heal(self) -> None:
        """Every link up, and no qdisc a test added left on any host."""
        for name, host in self.hosts.items():
            self.restore(name)
            ip(*host.run("tc", "qdisc", "del", "dev", "eth0", "root")[1:], check=False)

    def close(self) -> None:
        """Delete every namespace (their veth pairs go with them) and the bridge."""
        for host in self.hosts.values():
            ip("link", "del", host.link, check=False)
            ip("netns", "del", host.namespace, check=False)
        ip("link", "del", self.bridge, check=False)


@dataclass
class Lag:
    """What a :class:`LaggyProxy` adds: each chunk ``delay_s`` ± ``jitter_s`` late (order
    kept), and every ``stall_every_s`` all traffic held for ``stall_s``."""

    delay_s: float = 0.020
    jitter_s: float = 0.015
    stall_every_s: float = 5.0
    stall_s: float = 2.0
    seed: int = 0


class LaggyProxy:
    """A TCP proxy, on its own event loop thread, from ``listen_host`` (a random port) to
    ``target`` (``HOST:PORT``), delaying and stalling both directions as ``lag`` says."""

    def __init__(self, listen_host: str, target: str, lag: Lag) -> None:
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.lag = lag
        self.random = random.Random(lag.seed)
        self.chunks = 0
        self.bytes = 0
        self.stalls: set[int] = set()
        self.started = time.monotonic()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, listen_host, 0), self.loop
        ).result(timeout=10)
        self.address = f"{listen_host}:{self.server.sockets[0].getsockname()[1]}"

    def _due(self) -> float:
        """When a chunk read now may go on: late by the lag, and after a stall it falls in."""
        lag = self.lag
        due = time.monotonic() + lag.delay_s + self.random.uniform(-lag.jitter_s, lag.jitter_s)
        since = due - self.started
        period = int(since // lag.stall_every_s)
        if period > 0 and since - period * lag.stall_every_s < lag.stall_s:
            self.stalls.add(period)
            due = self.started + period * lag.stall_every_s + lag.stall_s
        return due

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        last = 0.0
        try:
            while data := await reader.read(65536):
                last = max(last, self._due())  # chunks keep their order
                self.chunks += 1
                self.bytes += len(data)
                queue.put_nowait((last, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((last, b""))
        with contextlib.suppress(ConnectionError, OSError):
            await sender
        writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            upstream = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, upstream[1]), self._pipe(upstream[0], writer))

    def close(self) -> None:
        """Stop listening, end the connections' tasks, then the loop and its thread."""

        async def shutdown() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05
) -> float:
    """Poll ``condition`` every ``every`` seconds; the seconds it took, or ``TimeoutError``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(every)
    return time.monotonic() - start
