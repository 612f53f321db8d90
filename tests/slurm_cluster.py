"""A real Slurm cluster on this machine: munged, slurmctld and three slurmd "nodes".

Started as root with no systemd, every daemon on 127.0.0.1, each in the foreground
under this process so it is stopped by its pid. The nodes ``n1``..``n3`` claim 4 CPUs
each (``config_overrides``); ``n1`` has two stand-in GPUs (``/dev/null``, ``/dev/zero``)
and is alone in the ``gpu`` partition; ``main`` (the default) has all three.
``proctrack/cgroup`` makes ``scancel`` end a job's whole process tree. Used by the tests
(``tests/test_slurm.py``) and by the benchmark (``bench/slurm.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NODES = ("n1", "n2", "n3")
CPUS_PER_NODE = 4
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol")
HOW_TO_GET_IT = ("the Slurm tests need root and Debian's Slurm: "
                 "apt-get install slurmctld slurmd slurm-client munge (.ci/run does)")


def missing() -> str:
    """Why a cluster cannot be started here ("" if it can)."""
    if os.geteuid() != 0:
        return "not root; " + HOW_TO_GET_IT
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not found; " + HOW_TO_GET_IT
    if not Path("/sys/fs/cgroup/freezer").is_dir():
        return "no cgroup v1 freezer (proctrack/cgroup needs it)"
    return ""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SlurmCluster:
    """The daemons of one test cluster, under ``directory``; ``env`` reaches it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.conf = directory / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: dict[str, subprocess.Popen[bytes]] = {}

    # starting and stopping ------------------------------------------------------------

    def start(self) -> SlurmCluster:
        """Write the configuration and start every daemon; return once the nodes are idle."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # munged wants its socket's directory reachable
        (self.directory / "state").mkdir(exist_ok=True)
        for node in NODES:
            (self.directory / "spool" / node).mkdir(parents=True, exist_ok=True)
        key = self.directory / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        self._write_conf()
        self._spawn("munged", ["munged", "-F", "-f", f"--socket={self.directory / 'munge.sock'}",
                               f"--key-file={key}", f"--log-file={self.directory / 'munged.log'}",
                               f"--pid-file={self.directory / 'munged.pid'}",
                               f"--seed-file={self.directory / 'munged.seed'}"])
        self._wait(lambda: (self.directory / "munge.sock").exists(), "munged")
        self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-i", "-f", str(self.conf)])
        self._wait(lambda: self.scontrol("ping").returncode == 0, "slurmctld")
        for node in NODES:
            self.start_node(node)
        self._wait(lambda: self.idle_nodes() == set(NODES), "the three nodes")
        return self

    def start_node(self, node: str) -> None:
        """Start (or start again) the slurmd of ``node``."""
        self._spawn(node, ["slurmd", "-D", "-N", node, "-f", str(self.conf)])

    def kill_node(self, node: str) -> None:
        """SIGKILL the slurmd of ``node`` (its jobs' processes live on, as on a hung node)."""
        process = self._daemons.pop(node)
        process.kill()
        process.wait()

    def stop(self) -> None:
        """Cancel every job, then stop every daemon this cluster started (by pid)."""
        with contextlib.suppress(Exception):
            subprocess.run(["scancel", "--full", "-u", "root"], env=self.env, timeout=30, capture_output=True)
            self._wait(lambda: not self.jobs(), "the jobs to end", timeout=20)
        for name in [*NODES, "slurmctld", "munged"]:
            process = self._daemons.pop(name, None)
            if process is None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # asking it ------------------------------------------------------------------------

    def scontrol(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``scontrol ARGS`` on this cluster."""
        return subprocess.run(["scontrol", *args], env=self.env, capture_output=True, text=True, timeout=60)

    def idle_nodes(self) -> set[str]:
        """The nodes that are up and idle."""
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env, capture_output=True,
                             text=True, timeout=60).stdout
        return {line.split()[0] for line in out.splitlines() if line.split()[1:] == ["idle"]}

    def jobs(self, all_states: bool = False) -> list[dict[str, str]]:
        """The jobs Slurm shows (waiting or running; with ``all_states``, ended ones too)."""
        args = ["squeue", "-h", "-o", "%i|%j|%T|%r|%N"] + (["-t", "all"] if all_states else [])
        out = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=60).stdout
        keys = ("id", "name", "state", "reason", "node")
        return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]

    def resume(self, node: str) -> None:
        """Bring ``node`` back (after a test set it down or killed its slurmd)."""
        if node not in self._daemons:
            self.start_node(node)
        self._wait(lambda: self.scontrol("update", f"nodename={node}", "state=resume").returncode == 0
                   or node in self.idle_nodes(), f"{node} to come back", timeout=60)
        self._wait(lambda: node in self.idle_nodes(), f"{node} to be idle", timeout=60)

    # inside ---------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.directory / f"{name}.out").open("ab")
        self._daemons[name] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait(self, condition, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for name, process in self._daemons.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: see {self.directory}/{name}.out")
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}: see the logs in {self.directory}")

    def _write_conf(self) -> None:
        ctld, *node_ports = _free_ports(1 + len(NODES))
        d = self.directory
        lines = [
            "ClusterName=pyoneertest",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={ctld}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", f"AuthInfo=socket={d / 'munge.sock'}", "CredType=cred/munge",
            f"StateSaveLocation={d / 'state'}", f"SlurmdSpoolDir={d / 'spool'}/%n",
            f"SlurmctldPidFile={d / 'slurmctld.pid'}", f"SlurmdPidFile={d / 'slurmd-%n.pid'}",
            f"SlurmctldLogFile={d / 'slurmctld.log'}", f"SlurmdLogFile={d / 'slurmd-%n.log'}",
            "ProctrackType=proctrack/cgroup", "TaskPlugin=task/none",
            "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU_Memory",
            "SchedulerParameters=sched_interval=1", "DefMemPerCPU=256",
            "ReturnToService=1", "MinJobAge=600", "KillWait=5", "SlurmdTimeout=10",
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny", "SlurmdParameters=config_overrides",
            "GresTypes=gpu", "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none", "SwitchType=switch/none",
        ]
        for node, port in zip(NODES, node_ports):
            gres = " Gres=gpu:2" if node == "n1" else ""
            lines.append(f"NodeName={node} NodeAddr=127.0.0.1 NodeHostname=localhost Port={port} "
                         f"CPUs={CPUS_PER_NODE} RealMemory=4000{gres} State=UNKNOWN")
        lines += [f"PartitionName=main Nodes={','.join(NODES)} Default=YES MaxTime=INFINITE State=UP",
                  "PartitionName=gpu Nodes=n1 MaxTime=INFINITE State=UP"]
        self.conf.write_text("\n".join(lines) + "\n")
        (d / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n"
                                       "ConstrainCores=no\nConstrainRAMSpace=no\nConstrainDevices=no\n")
        (d / "gres.conf").write_text("NodeName=n1 Name=gpu File=/dev/null,/dev/zero\n")


@contextlib.contextmanager
def reached(folder: Path) -> Iterator[SlurmCluster]:
    """A cluster started in ``folder``, reached through ``SLURM_CONF`` by every command
    started meanwhile; stopped, and ``SLURM_CONF`` as it was, after."""
    made = SlurmCluster(folder).start()
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(made.conf)
    try:
        yield made
    finally:
        made.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
