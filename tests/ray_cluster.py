"""A real Ray cluster on loopback for tests: one head and N worker nodes, each its own raylet, stopped by PID.

Every node is one ``ray start --block`` process started in a new session (``start_new_session=True``), so the
raylet, the GCS, the agents and the worker processes it spawns share that process group. :meth:`LoopbackRayCluster.
stop` kills exactly those groups (SIGTERM, then SIGKILL) and never runs ``ray stop``, which would stop every Ray
instance on the machine, including other people's. Each node gets its own ``--temp-dir`` and its own ports (two
raylets on one machine would otherwise clash on the dashboard-agent, runtime-env-agent and metrics ports).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["LOOPBACK_ENV", "LoopbackRayCluster", "free_port", "keep_loopback"]

LOOPBACK_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}

_RAY_START = (
    "import sys\n"
    f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
    "import ray_cluster\n"
    "ray_cluster.keep_loopback()\n"
    "from ray.scripts.scripts import main\n"
    "sys.argv[0] = 'ray'\n"
    "sys.exit(main())\n"
)


def keep_loopback(monkeypatch=None) -> None:
    """Make this process's Ray keep 127.0.0.1 as the node address (``ray start`` and the test's driver).

    Ray swaps a loopback address for the machine's outward one (``resolve_ip_for_localhost``, and
    ``node_ip_address_from_perspective`` for a node's own address); tests talk to loopback addresses only.
    """
    import ray._private.services as services

    for name, value in (
        ("resolve_ip_for_localhost", lambda host: host),
        ("node_ip_address_from_perspective", lambda address=None: "127.0.0.1"),
    ):
        if monkeypatch is not None:
            monkeypatch.setattr(services, name, value)
        else:
            setattr(services, name, value)


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ports() -> list[str]:
    return [
        "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
        "--metrics-export-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
        "--dashboard-agent-grpc-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
    ]  # fmt: skip


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(x) for x in task.read_text().split()]
    return out


class LoopbackRayCluster:
    """A head node and ``workers`` worker nodes, ``--num-cpus 1`` each, all on 127.0.0.1.

    Args:
        base: a fresh folder for the nodes' temp dirs and logs.
        workers: worker nodes besides the head.
        cpus: ``--num-cpus`` of every node.
        env: extra environment of the nodes (and so of every Ray worker process).
    """

    def __init__(self, base: Path, *, workers: int = 1, cpus: int = 1, env: dict[str, str] | None = None) -> None:
        self.base = Path(base)
        self.n_workers = workers
        self.cpus = cpus
        # HOME of its own: a ~/.ray/auth_token left by another Ray program would make the head demand a token
        self.env = {**os.environ, **LOOPBACK_ENV, "HOME": str(self.base), **(env or {})}
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.base / f"{name}.log", "wb")  # noqa: SIM115 — closed with the process
        common = ["--num-cpus", str(self.cpus), "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _RAY_START,
                "start",
                "--block",
                *args,
                "--temp-dir",
                str(self.base / name),
                *common,
                *_ports(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        self.nodes.append(proc)
        return proc

    def start(self, timeout: float = 120.0) -> LoopbackRayCluster:
        """Start the head, wait for its GCS port, start the workers and wait until every raylet is up."""
        self.base.mkdir(parents=True, exist_ok=True)
        head = ["--head", "--port", str(self.port), "--include-dashboard", "false"]
        self._start("head", [*head, "--dashboard-port", str(free_port())])
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the Ray head did not open port {self.port} in {timeout} s") from None
                time.sleep(0.2)
        self._wait_raylets(deadline, timeout)  # the head's raylet first: a worker joins a head that is fully up
        for i in range(self.n_workers):
            self._start(f"worker{i}", ["--address", self.address])
        self._wait_raylets(deadline, timeout)
        return self

    def _wait_raylets(self, deadline: float, timeout: float) -> None:
        """Wait for every started node's raylet; a worker whose ``ray start`` gave up joining is started again.

        On a loaded machine a worker's first connection to the GCS can time out; two more tries are allowed.
        """
        tries = dict.fromkeys(range(1, len(self.nodes)), 0)
        while any(self.raylet_pid(i) is None for i in range(len(self.nodes))):
            for i in range(1, len(self.nodes)):
                if self.nodes[i].poll() is not None and tries[i] < 2:
                    tries[i] += 1
                    old = self.nodes.pop(i)
                    old.wait()
                    self._start(f"worker{i - 1}", ["--address", self.address])
                    self.nodes.insert(i, self.nodes.pop())
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray nodes did not start their raylets in {timeout} s")
            time.sleep(0.2)

    def _check_alive(self) -> None:
        for i, proc in enumerate(self.nodes):
            if proc.poll() is not None:
                name = "head" if i == 0 else f"worker{i - 1}"
                log = (self.base / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"ray start of the {name} node exited with {proc.returncode}:\n{log}")

    def raylet_pid(self, node: int) -> int | None:
        """PID of the raylet of node ``node`` (0 = head, 1.. = workers), or None before it started."""
        for pid in _children(self.nodes[node].pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"/raylet"):
                    return pid
        return None

    def kill_raylet(self, node: int) -> None:
        """Kill the raylet of one node with SIGKILL (its worker processes then exit: the node is lost)."""
        pid = self.raylet_pid(node)
        if pid is None:
            raise RuntimeError(f"node {node} has no raylet")
        os.kill(pid, signal.SIGKILL)

    def kill_node(self, node: int) -> None:
        """Kill everything of one node at once: its process group (raylet, agents) and the raylet's worker processes.

        Ray's worker processes run in process groups of their own, so they are found as the raylet's children.
        """
        raylet = self.raylet_pid(node)
        workers = _children(raylet) if raylet is not None else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.nodes[node].pid, signal.SIGKILL)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop exactly the nodes this object started (process groups by PID), workers first; never ``ray stop``.

        The Ray worker processes (their own process groups) are the raylets' children: they are killed by PID.
        """
        strays = [pid for i in range(len(self.nodes)) for pid in _children(self.raylet_pid(i) or -1)]
        for proc in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        for proc in reversed(self.nodes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is still there
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.nodes = []

    def __enter__(self) -> LoopbackRayCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
