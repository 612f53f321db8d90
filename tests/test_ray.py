"""The Ray engine on a real Ray cluster: three nodes on this machine, loopback only, token auth.

One module-scoped cluster (``cluster`` fixture): a head node (1 CPU, ``head``), node A
(1 CPU, ``big_disk``, ``shared``) and node B (1 CPU, ``gpu_like``, ``shared``). Every
``pyoneer run`` is the real CLI in a child process, connecting with ``--address``; the
test process itself never calls ``ray.init``. A task tells which node it ran on by its
chain of parent processes: the actor's worker process is a child of its node's raylet.
The test that removes a node comes last.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

for _module in ("ray", "pathspec"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"the Ray engine's tests need {_module} (pip install 'pyoneer[ray]')", allow_module_level=True)

# Before Ray is imported: Ray reads this at import, and with it every listener of the
# cluster (and of each pyoneer driver, which inherits it) binds 127.0.0.1 only.
_SAVED_ENV = {
    name: os.environ.get(name)
    for name in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                 "RAY_ADDRESS")
}
# Token authentication for the cluster (as ray._private.authentication_test_utils sets
# it up: the mode and the token in the environment); child pyoneer processes inherit it.
TOKEN = secrets.token_hex(32)


def _cluster_environment() -> None:
    """Loopback and the token, in this process's environment: at import, and again as the
    cluster starts (another module's cluster, torn down before, restored the environment
    it had seen first, which may predate this module's import)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = TOKEN
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    os.environ.pop("RAY_ADDRESS", None)


_cluster_environment()

import ray  # noqa: E402
from conftest import child_env, pyoneer_command, run_cli, wait_until, write_project  # noqa: E402
from engine_contract import EngineContract  # noqa: E402
from processes import alive, command_line, descendants, is_alive, stat_fields  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

#: seconds a normal ray run may take, even on a slow, busy machine
RUN_TIMEOUT = 300

#: a module every project gets: where a task ran (its pid and its chain of parents)
WHERE = '''
import json, os

def chain(pid):
    """pid, its parent, its grandparent ... (up to init)."""
    out = []
    while pid > 1 and len(out) < 16:
        out.append(pid)
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return out

def name(pid):
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return "?"

def record(path, **extra):
    info = {
        "pid": os.getpid(),
        "chain": chain(os.getpid()),
        "names": [name(pid) for pid in chain(os.getpid())],
        "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("PYONEER_")},
        **extra,
    }
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path + ".part", "w") as out:
        json.dump(info, out)
    os.replace(path + ".part", path)
    return info
'''


# The cluster -----------------------------------------------------------------------

#: the custom resources of the two worker nodes
NODE_RESOURCES = {"a": {"big_disk": 1, "shared": 1}, "b": {"gpu_like": 1, "shared": 1}}


@dataclass
class RayCluster:
    """The running cluster, its nodes by name, and each node's raylet pid."""

    cluster: Cluster
    nodes: dict[str, object]
    raylets: dict[str, int] = field(default_factory=dict)
    #: the nodes' temporary directory (TMPDIR): each job's copy of the project is made there
    tmp: Path = Path("/nonexistent")

    def job_directories(self, job: str) -> list[str]:
        """The copies of the project made for ``job`` that are still on the nodes."""
        return sorted(path.name for path in self.tmp.glob(f"pyoneer-{job}-*"))

    @property
    def address(self) -> str:
        return self.cluster.address

    def node_of(self, chain: list[int]) -> str | None:
        """The name of the node whose raylet is an ancestor in ``chain``."""
        for name, raylet in self.raylets.items():
            if raylet in chain:
                return name
        return None

    def remove(self, name: str, graceful: bool = True) -> None:
        """Take node ``name`` out of the cluster (all its processes die; without grace:
        SIGKILL at once, as a node lost to a crash or the OOM killer)."""
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=graceful)

    def replace(self, name: str) -> None:
        """Bring back a node like the removed node ``name`` (for the tests after it)."""
        saved = {var: os.environ.get(var) for var in ("TMPDIR", "RAY_TMPDIR")}
        os.environ["RAY_TMPDIR"] = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
        os.environ["TMPDIR"] = str(self.tmp)  # as the fixture started the first one
        try:
            node = self.cluster.add_node(num_cpus=1, resources=NODE_RESOURCES[name],
                                         runtime_env_dir_name=f"runtime_resources_{name}_again")
            self.cluster.wait_for_nodes()
        finally:
            _restore(saved)
        self.nodes[name] = node
        self.raylets[name] = _raylet_pid(node)


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _raylet_pid(node) -> int:
    return node.all_processes[ray._private.ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def _cluster_processes(made: Cluster) -> set[int]:
    """The live processes of the cluster's nodes (raylets, GCS, agents...) and all below them."""
    roots = {
        info.process.pid
        for node in made.list_all_nodes()
        for infos in node.all_processes.values()
        for info in infos
    }
    found = set(roots)
    for pid in roots:
        found |= set(descendants(pid))
    return {pid for pid in found if is_alive(pid)}


def _describe(pid: int) -> str:
    return command_line(pid)[:150] or "?"


@pytest.fixture(scope="module")
def cluster():
    """Head + node A + node B, on 127.0.0.1, token auth on; shut down after the module."""
    started = time.monotonic()
    _cluster_environment()
    from ray._private.authentication_test_utils import reset_auth_token_state

    reset_auth_token_state()  # Ray keeps the token it read first: this module's, now
    from ray._private import ray_constants

    # read as Ray was imported, maybe by a module collected before this one: loopback, now
    ray_constants.ENABLE_RAY_CLUSTER = False
    # The nodes' temporary files (each job's copy of its project, among them) go to a
    # directory of the module's, removed with the cluster: TMPDIR for the node processes
    # only, Ray's own directory where it would be anyway.
    tempfile.gettempdir()  # this process keeps its own, whatever the nodes get
    node_tmp = Path(tempfile.mkdtemp(prefix="pyoneer-ray-nodes-"))
    saved = {name: os.environ.get(name) for name in ("TMPDIR", "RAY_TMPDIR")}
    os.environ["RAY_TMPDIR"] = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"  # as Ray picks it
    os.environ["TMPDIR"] = str(node_tmp)
    try:
        made = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "resources": {"head": 1}, "include_dashboard": False},
        )
    except BaseException:
        _restore(saved)
        raise
    try:
        nodes = {"head": made.head_node}
        # Each worker node gets a runtime env directory of its own, as separate machines
        # would: nodes sharing one race each other building the same pip environment.
        # (The head keeps the default one: the driver stages its uploads there.)
        nodes["a"] = made.add_node(num_cpus=1, resources=NODE_RESOURCES["a"], runtime_env_dir_name="runtime_resources_a")
        nodes["b"] = made.add_node(num_cpus=1, resources=NODE_RESOURCES["b"], runtime_env_dir_name="runtime_resources_b")
        made.wait_for_nodes()
        _restore(saved)
        handle = RayCluster(made, nodes, {name: _raylet_pid(node) for name, node in nodes.items()}, node_tmp)
        print(f"\ncluster of 3 nodes at {made.address} up in {time.monotonic() - started:.1f} s")
        yield handle
    finally:
        ours = _cluster_processes(made)
        _restore(saved)
        made.shutdown()
        _restore(_SAVED_ENV)
        left = sorted(path.name for path in node_tmp.glob("pyoneer-*"))
        if left:
            print(f"\njob directories left on the nodes: {left}")
        shutil.rmtree(node_tmp, ignore_errors=True)
    if not wait_until(lambda: not any(is_alive(pid) for pid in ours), timeout=30, interval=0.2):
        left = sorted(pid for pid in ours if is_alive(pid))
        described = [f"{pid}: {_describe(pid)}" for pid in left]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pytest.fail("processes of the cluster outlived it:\n" + "\n".join(described))


# Helpers ---------------------------------------------------------------------------


def ray_run(cluster: RayCluster, root: Path, *extra: str, env: dict[str, str] | None = None,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``pyoneer run ROOT --engine ray --address CLUSTER`` to its end."""
    return subprocess.run(
        pyoneer_command("run", str(root), "--engine", "ray", "--address", cluster.address, *extra),
        capture_output=True, text=True, timeout=timeout, env=env or child_env(),
    )


@dataclass
class Bounded:
    """How a run given a time limit ended: its code (None: it had to be killed) and output."""

    code: int | None
    output: str
    seconds: float


def run_bounded(args: list[str], seconds: float, tmp: Path, env: dict[str, str] | None = None) -> Bounded:
    """Run ``pyoneer ARGS`` for at most ``seconds``; past that, SIGINT, then SIGKILL."""
    out = tmp / f"bounded-{time.monotonic_ns()}.out"
    started = time.monotonic()
    with out.open("wb") as sink:
        process = subprocess.Popen(pyoneer_command(*args), stdout=sink, stderr=subprocess.STDOUT,
                                   env=env or child_env())
        try:
            code = process.wait(seconds)
        except subprocess.TimeoutExpired:
            code = None
            process.send_signal(signal.SIGINT)
            try:
                process.wait(8)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return Bounded(code, out.read_text(errors="replace"), time.monotonic() - started)


def make_project(root: Path, toml: str, scripts: dict[str, str]) -> Path:
    """A project with ``where.py`` beside its scripts."""
    return write_project(root, toml, {"where.py": WHERE, **scripts})


def toml_string(value: object) -> str:
    """``value`` as a TOML basic string."""
    return json.dumps(str(value))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def status_of(root: Path) -> dict:
    result = run_cli("status", str(root), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def job_statuses(state: dict) -> dict[str, str]:
    return {row["name"]: row["status"] for row in state["blueprints"] if row["kind"] == "job"}


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PROBE = """
import sys, where
where.record(f"results/{sys.argv[1]}.json")
"""


# The engine contract (the same tests run on the local engine in test_engines.py) ------


class TestRayEngine(EngineContract):
    """Workers as actors on the three-node cluster."""

    @pytest.fixture(autouse=True)
    def _on_the_cluster(self, cluster: RayCluster) -> None:
        self.engine_args = ("--engine", "ray", "--address", cluster.address)


# Placement -------------------------------------------------------------------------


def test_jobs_are_placed_on_the_nodes_that_offer_their_custom_resources(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.disk]
        tasks = ["probe.py disk"]
        resources = { custom = { big_disk = 1 } }
        outputs = ["results/*.json"]

        [jobs.gpu]
        tasks = ["probe.py gpu"]
        resources = { custom = { gpu_like = 1 } }
        outputs = ["results/*.json"]
        """,
        {"probe.py": PROBE},
    )
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    disk, gpu = load(root / "results/disk.json"), load(root / "results/gpu.json")
    assert cluster.node_of(disk["chain"]) == "a", disk
    assert cluster.node_of(gpu["chain"]) == "b", gpu
    # each ran in a copy of the project on its node, not in the project itself
    assert Path(disk["cwd"]) != root and Path(gpu["cwd"]) != root


# Loopback only ---------------------------------------------------------------------


def _listening_sockets() -> dict[int, tuple[str, int]]:
    """Listening TCP sockets of this machine: inode -> (address, port)."""
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state != "0A":  # LISTEN
                continue
            host, port = local.split(":")
            raw = bytes.fromhex(host)
            if len(raw) == 4:
                address = str(ipaddress.IPv4Address(raw[::-1]))
            else:
                address = str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
            sockets[inode] = (address, int(port, 16))
    return sockets


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def _plain(address: str) -> str:
    """An IPv4-mapped IPv6 address as its IPv4 address (``::ffff:127.0.0.1`` -> ``127.0.0.1``)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(_plain(address)).is_loopback


def test_every_listener_of_the_cluster_is_on_loopback(cluster: RayCluster) -> None:
    sockets = _listening_sockets()
    listeners = []  # (pid, address, port)
    for pid in _cluster_processes(cluster.cluster):
        for inode in _socket_inodes(pid):
            if inode in sockets:
                listeners.append((pid, *sockets[inode]))
    assert listeners, "found no listening socket of the cluster's processes"
    outward = [(pid, address, port, _describe(pid)) for pid, address, port in listeners if not _is_loopback(address)]
    assert not outward, f"listening beyond loopback: {outward}"
    # the GCS (the port of the cluster's address) is bound to 127.0.0.1 itself
    host, port = cluster.address.rsplit(":", 1)
    assert host == "127.0.0.1"
    gcs = [address for _, address, bound in listeners if bound == int(port)]
    assert gcs and all(_plain(address) == "127.0.0.1" for address in gcs), gcs
    # and each node's raylet listens too, on loopback (so the walk found the nodes)
    listening_raylets = {pid for pid, _, _ in listeners if pid in cluster.raylets.values()}
    assert listening_raylets == set(cluster.raylets.values())


# What a script sees on a node ------------------------------------------------------


def test_project_modules_and_environment_reach_the_script_on_its_node(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [environment]
        env = { STAGE = "ray-test", GREETING = "hello there" }

        [jobs.show]
        tasks = ["show.py"]
        resources = { custom = { gpu_like = 1 } }
        outputs = ["out/*.json"]
        """,
        {
            "helpers.py": "def shout(text):\n    return text.upper() + '!'\n",
            "lib/__init__.py": "",
            "lib/numbers.py": "TOTAL = sum(range(5))\n",
            "show.py": """
                import os, helpers, where
                from lib import numbers
                where.record(
                    "out/show.json",
                    shouted=helpers.shout(os.environ["GREETING"]),
                    helpers_file=helpers.__file__,
                    total=numbers.TOTAL,
                    stage=os.environ.get("STAGE"),
                )
            """,
        },
    )
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    show = load(root / "out/show.json")
    assert cluster.node_of(show["chain"]) == "b"
    assert show["shouted"] == "HELLO THERE!" and show["total"] == 10 and show["stage"] == "ray-test"
    # the module came with the project to the node: it is not the local file
    assert Path(show["helpers_file"]).parent == Path(show["cwd"]) != root
    run_id = status_of(root)["run"]["id"]
    # (and the mark of its node worker, whose watchdog ends it if the node is lost)
    assert show["env"].pop("PYONEER_NODE_WORKER", "").split("-")[0].isdigit()
    assert show["env"] == {
        "PYONEER_RUN_ID": run_id,
        "PYONEER_PROJECT": "proj",
        "PYONEER_JOB": "show",
        "PYONEER_TASK": "show",
        "PYONEER_ATTEMPT": "1",
    }


_NO_VIRTUALENV = importlib.util.find_spec("virtualenv") is None


@pytest.mark.skipif(
    _NO_VIRTUALENV,
    reason="Ray's pip runtime environment needs virtualenv in the nodes' Python (pip install 'pyoneer[ray]')",
)
@pytest.mark.skipif(importlib.util.find_spec("tomli_w") is not None, reason="tomli-w is installed here already")
def test_declared_packages_are_installed_on_the_nodes(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [environment]
        packages = ["tomli-w"]

        [jobs.pack]
        tasks = ["pack.py"]
        resources = { custom = { big_disk = 1 } }
        outputs = ["out/*.json"]
        """,
        {"pack.py": """
            import tomli_w, where
            where.record("out/pack.json", text=tomli_w.dumps({"a": 1}), module=tomli_w.__file__)
        """},
    )
    started = time.monotonic()
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    pack = load(root / "out/pack.json")
    print(f"pip runtime env: run took {time.monotonic() - started:.1f} s")
    assert pack["text"] == "a = 1\n" and cluster.node_of(pack["chain"]) == "a"
    assert not pack["module"].startswith(sys.prefix)  # Ray's environment, not this Python's


def test_a_node_learns_what_its_tasks_import_and_preloads_it_next_time(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.use]
        tasks = ["use.py", "use.py"]
        """,
        # doctest: a module of the interpreter's that costs tens of ms to import
        {"use.py": "import sys\nprint('already imported:', 'doctest' in sys.modules)\nimport doctest\n"},
    )
    first = ray_run(cluster, root)
    assert first.returncode == 0, explain(first)
    assert run_cli("logs", str(root), "use/use").stdout.strip() == "already imported: False"
    second = ray_run(cluster, root)
    assert second.returncode == 0, explain(second)
    assert run_cli("logs", str(root), "use/use").stdout.strip() == "already imported: True"  # preloaded on its node


# Outputs and working directories ---------------------------------------------------


def test_outputs_flow_from_node_to_node_and_come_home(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.produce]
        tasks = ["produce.py"]
        resources = { custom = { big_disk = 1 } }
        outputs = ["results/*.json"]

        [jobs.consume]
        tasks = ["consume.py"]
        needs = ["produce"]
        resources = { custom = { gpu_like = 1 } }
        outputs = ["out/*.txt"]
        """,
        {
            "produce.py": """
                import json, os, where
                os.makedirs("results", exist_ok=True)
                json.dump({"numbers": [1, 2, 3], "by": "produce"}, open("results/data.json", "w"))
                open("results/notes.log", "w").write("not an output\\n")
                where.record("results/where-produce.json")
            """,
            "consume.py": """
                import json, os, where
                data = json.load(open("results/data.json"))
                os.makedirs("out", exist_ok=True)
                open("out/final.txt", "w").write(f"sum={sum(data['numbers'])} from {data['by']}\\n")
                where.record("out/where-consume.txt")
            """,
        },
    )
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    assert load(root / "results/data.json") == {"numbers": [1, 2, 3], "by": "produce"}
    assert (root / "out/final.txt").read_text() == "sum=6 from produce\n"
    assert not (root / "results/notes.log").exists()  # not declared: stays on the node
    produce, consume = load(root / "results/where-produce.json"), load(root / "out/where-consume.txt")
    assert cluster.node_of(produce["chain"]) == "a" and cluster.node_of(consume["chain"]) == "b"
    assert produce["cwd"] != consume["cwd"]


def test_resume_on_ray_reruns_what_a_changed_module_or_a_lost_output_touches(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.produce]
        tasks = ["produce.py"]
        outputs = ["results/data.json"]
        [jobs.consume]
        needs = ["produce"]
        tasks = ["consume.py"]
        outputs = ["out/final.txt"]
        [jobs.alone]
        tasks = ["alone.py"]
        """,
        {
            "produce.py": "import json, os, lib.numbers as n\nos.makedirs('results', exist_ok=True)\n"
                          "json.dump(n.NUMBERS, open('results/data.json', 'w'))\n",
            "consume.py": "import json, os\nos.makedirs('out', exist_ok=True)\n"
                          "open('out/final.txt', 'w').write(str(sum(json.load(open('results/data.json')))))\n",
            "alone.py": "print('alone')\n",
            "lib/__init__.py": "",
            "lib/numbers.py": "from lib.base import BASE\nNUMBERS = [BASE, 2, 3]\n",
            "lib/base.py": "BASE = 1\n",
        },
    )
    assert ray_run(cluster, root).returncode == 0
    result = ray_run(cluster, root, "--resume")
    assert result.returncode == 0, explain(result)
    assert {row["name"]: row["reused"] for row in status_of(root)["blueprints"] if row["kind"] == "job"} == {
        "produce": True, "consume": True, "alone": True,
    }
    (root / "lib" / "base.py").write_text("BASE = 10\n")  # a module imported by a module
    result = ray_run(cluster, root, "--resume")
    assert result.returncode == 0, explain(result)
    rows = {row["name"]: row for row in status_of(root)["blueprints"] if row["kind"] == "job"}
    assert {name: row["reused"] for name, row in rows.items()} == {"produce": False, "consume": False, "alone": True}
    assert rows["produce"]["why"] == "lib/base.py changed (imported by produce.py)"
    assert (root / "out" / "final.txt").read_text() == "15"  # the new result came home
    (root / "out" / "final.txt").unlink()
    result = ray_run(cluster, root, "--resume")
    assert result.returncode == 0, explain(result)
    rows = {row["name"]: row for row in status_of(root)["blueprints"] if row["kind"] == "job"}
    assert {name: row["reused"] for name, row in rows.items()} == {"produce": True, "consume": False, "alone": True}
    assert rows["consume"]["why"] == "output out/final.txt missing"
    assert (root / "out" / "final.txt").read_text() == "15"


def test_the_example_sweep_fans_out_over_the_nodes_and_in_to_its_report(cluster: RayCluster, tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "sweep", root)
    result = ray_run(cluster, root, "-p", "epochs=2")
    assert result.returncode == 0, explain(result)
    report = (root / "results" / "report.txt").read_text().splitlines()  # home, from the node that gathered it
    assert report[0] == "10 models"
    assert len(list((root / "models").glob("*.json"))) == 10  # every member's output came home too
    state = status_of(root)
    jobs = job_statuses(state)
    assert len(jobs) == 13 and set(jobs.values()) == {"succeeded"}
    member = next(row for row in state["blueprints"] if row["name"] == "train[data=hills,lr=0.01,seed=3]")
    assert member["matrix"] == {"data": "hills", "lr": 0.01, "seed": 3}


def test_two_jobs_on_one_node_each_have_a_directory_of_their_own(cluster: RayCluster, tmp_path: Path) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    root = make_project(
        tmp_path / "proj",
        f"""
        [environment]
        env = {{ MEETING = {toml_string(meeting)} }}

        [jobs.left]
        tasks = ["scratch.py left right"]
        resources = {{ cpus = 0.5, custom = {{ big_disk = 0.5 }} }}
        outputs = ["results/*.json"]

        [jobs.right]
        tasks = ["scratch.py right left"]
        resources = {{ cpus = 0.5, custom = {{ big_disk = 0.5 }} }}
        outputs = ["results/*.json"]
        """,
        {"scratch.py": """
            import os, sys, time, where
            me, other = sys.argv[1], sys.argv[2]
            with open("scratch.txt", "w") as f:
                f.write(me)
            # meet the other job (both running at once), then give it time to write its own
            open(os.path.join(os.environ["MEETING"], me), "w").close()
            deadline = time.time() + 120
            while not os.path.exists(os.path.join(os.environ["MEETING"], other)) and time.time() < deadline:
                time.sleep(0.05)
            met = os.path.exists(os.path.join(os.environ["MEETING"], other))
            time.sleep(1.5)
            where.record(f"results/{me}.json", seen=open("scratch.txt").read(), met=met)
        """},
    )
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    left, right = load(root / "results/left.json"), load(root / "results/right.json")
    assert left["met"] and right["met"], "the two jobs did not run at the same time"
    assert cluster.node_of(left["chain"]) == cluster.node_of(right["chain"]) == "a"
    assert (left["seen"], right["seen"]) == ("left", "right")
    assert left["cwd"] != right["cwd"]
    assert not (root / "scratch.txt").exists()  # not an output


# Logs and ledger -------------------------------------------------------------------


def test_logs_and_status_tell_a_ray_run_like_a_local_one(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.talk]
        tasks = ["talk.py"]
        resources = { custom = { big_disk = 1 } }

        [jobs.after]
        tasks = ["after.py"]
        needs = ["talk"]
        resources = { custom = { gpu_like = 1 } }
        """,
        {
            "talk.py": """
                import json, os, sys, where
                print("line one from the node")
                print("a warning line", file=sys.stderr)
                print("chain " + json.dumps(where.chain(os.getpid())))
            """,
            "after.py": "print('after ran')\n",
        },
    )
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    # shown as it ran on the node: stderr's line on stderr, stdout's on stdout
    assert "talk | a warning line" in result.stderr.splitlines(), explain(result)
    assert "talk | line one from the node" in result.stdout.splitlines(), explain(result)
    assert "a warning line" not in result.stdout, explain(result)

    logs = run_cli("logs", str(root), "talk/talk")
    assert logs.returncode == 0, logs.stderr
    assert "line one from the node" in logs.stdout and "a warning line" in logs.stdout, logs.stdout
    chain = json.loads(logs.stdout.split("chain ", 1)[1].splitlines()[0])
    assert cluster.node_of(chain) == "a"
    assert "after ran" in run_cli("logs", str(root), "after/after").stdout

    state = status_of(root)
    assert state["run"]["result"] == "succeeded"
    assert job_statuses(state) == {"talk": "succeeded", "after": "succeeded"}
    holders = {row["name"]: row["pyoneer"] for row in state["blueprints"] if row["kind"] == "job"}
    workers = {row["id"]: row for row in state["pyoneers"] if row["role"] == "worker"}
    assert set(holders.values()) <= set(workers) and holders["talk"] != holders["after"]
    talker = workers[holders["talk"]]
    # the worker pyoneer of a ray run is its actor: the process the task ran under
    assert talker["pid"] in chain and talker["host"] == socket.gethostname()
    assert all(row["status"] == "stopped" for row in workers.values())
    task_rows = [row for row in state["blueprints"] if row["kind"] == "task"]
    assert sorted(row["name"] for row in task_rows) == ["after/after", "talk/talk"]
    for row in task_rows:
        assert row["status"] == "succeeded" and row["exit_code"] == 0
        assert (root / row["log"]).is_file()


def _events(root: Path, subject: str, change: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{root / '.pyoneer/ledger.db'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT COUNT(*) FROM events WHERE subject = ? AND change = ?", (subject, change)).fetchone()[0]


def _reused_worker_project(root: Path, bulk: int) -> Path:
    make_project(
        root,
        """
        [jobs.first]
        tasks = ["say.py first"]
        resources = { custom = { big_disk = 1 } }

        [jobs.second]
        tasks = ["say.py second"]
        needs = ["first"]
        resources = { custom = { big_disk = 1 } }
        """,
        {"say.py": "import sys\nprint('said by', sys.argv[1])\n"},
    )
    if bulk:
        (root / "bulk").mkdir()
        for number in range(bulk):
            (root / f"bulk/{number}.txt").write_text(str(number))
    return root


def _check_reused_worker_run(root: Path) -> None:
    state = status_of(root)
    holders = {row["name"]: row["pyoneer"] for row in state["blueprints"] if row["kind"] == "job"}
    assert holders["first"] == holders["second"]  # the idle worker's actor fits the second job too
    for job in ("first", "second"):
        assert _events(root, f"{job}/say", "running") == 1, f"{job}/say was reported {_events(root, f'{job}/say', 'running')} times"
        logs = run_cli("logs", str(root), f"{job}/say")
        assert f"said by {job}" in logs.stdout, explain(logs)
    tasks = {row["name"]: row["status"] for row in state["blueprints"] if row["kind"] == "task"}
    assert tasks == {"first/say": "succeeded", "second/say": "succeeded"}


def test_a_worker_reused_for_a_second_job_reports_each_job_once(cluster: RayCluster, tmp_path: Path) -> None:
    root = _reused_worker_project(tmp_path / "proj", bulk=0)
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    _check_reused_worker_run(root)


def test_a_worker_reused_for_a_job_of_a_big_project_reports_each_job_once(cluster: RayCluster, tmp_path: Path) -> None:
    # copying this project on the node takes longer than the manager's side waits before
    # its first poll (0.25 s): that poll must not see the last job's events
    root = _reused_worker_project(tmp_path / "proj", bulk=10000)
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    _check_reused_worker_run(root)


def test_a_job_that_waits_to_retry_and_goes_on_in_another_actor_starts_over(cluster: RayCluster, tmp_path: Path) -> None:
    # two slots: fetch (on worker-1) is handed back to wait 3 s; late takes its slot and its
    # idle worker for 10 s; when long's 8 s end, fetch goes on in long's actor, where its
    # first task's file is not: it starts over there, its attempts numbered after the first
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.fetch]
        tasks = ["make.py", { script = "flaky.py", retries = 1, retry_delay = "3s" }]

        [jobs.long]
        tasks = ["sleep.py 8"]

        [jobs.late]
        tasks = ["sleep.py 10"]
        """,
        {
            "make.py": "from pathlib import Path\nPath('made.txt').write_text('made')\n",
            "flaky.py": "import os, sys\nfrom pathlib import Path\nassert Path('made.txt').read_text() == 'made'\n"
                        "sys.exit(1 if os.environ['PYONEER_ATTEMPT'] == '1' else 0)\n",
            "sleep.py": "import sys, time\ntime.sleep(float(sys.argv[1]))\n",
        },
    )
    result = ray_run(cluster, root, "--workers", "2")
    assert result.returncode == 0, explain(result)
    tasks = {(row["name"], row["attempt"]): row for row in status_of(root)["blueprints"] if row["kind"] == "task"}
    assert [(name, number, row["status"]) for (name, number), row in sorted(tasks.items()) if name.startswith("fetch/")] == [
        ("fetch/flaky", 1, "failed"), ("fetch/flaky", 2, "succeeded"),
        ("fetch/make", 1, "succeeded"), ("fetch/make", 2, "succeeded"),
    ]
    assert tasks["fetch/flaky", 1]["pyoneer"] == tasks["late/sleep", 1]["pyoneer"]  # its worker, taken meanwhile
    assert tasks["fetch/make", 2]["pyoneer"] == tasks["long/sleep", 1]["pyoneer"]


def test_failing_tasks_on_a_node_fail_or_retry_like_local_ones(cluster: RayCluster, tmp_path: Path) -> None:
    tried = tmp_path / "tried-once"
    root = make_project(
        tmp_path / "proj",
        f"""
        [environment]
        env = {{ TRIED = {toml_string(tried)} }}

        [jobs.flaky]
        tasks = [{{ script = "flaky.py", retries = 1 }}]
        resources = {{ custom = {{ big_disk = 1 }} }}

        [jobs.broken]
        tasks = ["broken.py"]
        resources = {{ custom = {{ gpu_like = 1 }} }}

        [jobs.chatty]
        tasks = ["chatty.py"]
        """,
        {
            "flaky.py": """
                import os, sys
                if not os.path.exists(os.environ["TRIED"]):
                    open(os.environ["TRIED"], "w").close()
                    print("first try")
                    sys.exit(3)
                print("second try")
            """,
            "broken.py": "print('about to break')\nraise SystemExit(4)\n",
            "chatty.py": "for i in range(100000):\n    print(f'line {i}')\n",
        },
    )
    result = ray_run(cluster, root)
    assert result.returncode == 1, explain(result)
    assert "broken failed: task broken exit code 4" in result.stdout, explain(result)
    assert "about to break" in result.stdout  # the tail of its log, brought home
    state = status_of(root)
    assert job_statuses(state) == {"flaky": "succeeded", "broken": "failed", "chatty": "succeeded"}
    flaky = sorted((row["attempt"], row["status"], row["exit_code"]) for row in state["blueprints"]
                   if row["name"] == "flaky/flaky")
    assert flaky == [(1, "failed", 3), (2, "succeeded", 0)]
    assert all(row["status"] != "lost" for row in state["pyoneers"])  # a failing task is no lost worker
    assert "first try" in run_cli("logs", str(root), "flaky/flaky", "--attempt", "1").stdout
    assert "second try" in run_cli("logs", str(root), "flaky/flaky").stdout
    chatty = run_cli("logs", str(root), "chatty/chatty").stdout.splitlines()
    numbered = [line for line in chatty if line.startswith("line ")]
    assert numbered == [f"line {i}" for i in range(100000)]  # every byte of a long log, in order


# Resources no node offers ----------------------------------------------------------


def test_impossible_resources_fail_fast_and_independent_jobs_still_run(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.nowhere]
        tasks = ["mark.py nowhere"]
        resources = { custom = { nowhere = 1 } }

        [jobs.huge]
        tasks = ["mark.py huge"]
        resources = { cpus = 64 }

        [jobs.gpu]
        tasks = ["mark.py gpu"]
        resources = { gpus = 1 }

        [jobs.memory]
        tasks = ["mark.py memory"]
        resources = { memory = "1TB" }

        [jobs.split]
        tasks = ["mark.py split"]
        resources = { custom = { big_disk = 1, gpu_like = 1 } }

        [jobs.after]
        tasks = ["mark.py after"]
        needs = ["nowhere"]

        [jobs.fine]
        tasks = ["mark.py fine"]
        resources = { memory = "100MB" }
        outputs = ["ran/*"]
        """,
        {"mark.py": "import os, sys\nos.makedirs('ran', exist_ok=True)\nopen('ran/' + sys.argv[1], 'w').close()\n"},
    )
    started = time.monotonic()
    result = ray_run(cluster, root, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, explain(result)
    output = result.stdout + result.stderr
    assert "custom resource nowhere" in output, output
    assert "cpus = 64" in output and "gpus = 1" in output and "memory = 931.3 GiB" in output, output
    assert "no single node of the cluster offers all of" in output, output  # each exists, not together
    assert "Traceback" not in output
    assert job_statuses(status_of(root)) == {
        "nowhere": "failed", "huge": "failed", "gpu": "failed", "memory": "failed", "split": "failed",
        "after": "skipped", "fine": "succeeded",
    }
    assert sorted(p.name for p in (root / "ran").iterdir()) == ["fine"]
    assert elapsed < 90, f"took {elapsed:.0f} s"


# Choosing the engine ---------------------------------------------------------------


def test_engine_table_in_pyoneer_toml_needs_no_flags(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        f"""
        [engine]
        name = "ray"
        address = {toml_string(cluster.address)}

        [jobs.probe]
        tasks = ["probe.py here"]
        resources = {{ custom = {{ gpu_like = 1 }} }}
        outputs = ["results/*.json"]
        """,
        {"probe.py": PROBE},
    )
    result = run_cli("run", str(root), timeout=RUN_TIMEOUT)
    assert result.returncode == 0, explain(result)
    assert f"to {cluster.address}" in result.stdout  # the shipping line names the cluster
    assert cluster.node_of(load(root / "results/here.json")["chain"]) == "b"


def test_engine_usage_errors_exit_2_and_run_nothing(cluster: RayCluster, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    root = write_project(
        tmp_path / "proj",
        '[jobs.a]\ntasks = ["a.py"]\n',
        {"a.py": f"open({str(marker)!r}, 'w').close()\n"},
    )
    unknown = run_cli("run", str(root), "--engine", "spark")
    assert unknown.returncode == 2 and "unknown engine 'spark'" in unknown.stderr, explain(unknown)
    local = run_cli("run", str(root), "--engine", "local", "--address", cluster.address)
    assert local.returncode == 2 and "--address is for the Ray engine" in local.stderr, explain(local)

    # Ray not importable: a package named ray that fails to import comes first on the path
    fake = tmp_path / "no-ray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray/__init__.py").write_text("raise ImportError('No module named ray (simulated)')\n")
    env = child_env(PYTHONPATH=os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")])))
    missing = subprocess.run(
        pyoneer_command("run", str(root), "--engine", "ray", "--address", cluster.address),
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert missing.returncode == 2, explain(missing)
    assert "pip install 'pyoneer[ray]'" in missing.stderr and "Traceback" not in missing.stderr, explain(missing)
    write_project(root, '[engine]\nname = "ray"\n[jobs.a]\ntasks = ["a.py"]\n')
    by_table = subprocess.run(pyoneer_command("run", str(root)), capture_output=True, text=True, timeout=60, env=env)
    assert by_table.returncode == 2 and "pip install 'pyoneer[ray]'" in by_table.stderr, explain(by_table)
    assert not marker.exists()


# What travels ----------------------------------------------------------------------


def test_a_project_past_the_limit_is_refused_before_upload_unless_ignored(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.look]
        tasks = ["look.py"]
        outputs = ["results/*.json"]
        """,
        {"look.py": "import os, where\nwhere.record('results/look.json', listing=sorted(os.listdir('.')))\n"},
    )
    (root / "data").mkdir()
    (root / "data/big.bin").write_bytes(os.urandom(3_500_000))
    (root / "cache").mkdir()
    (root / "cache/blob.bin").write_bytes(os.urandom(2_500_000))
    env = child_env(RAY_max_grpc_message_size="2000000")  # Ray's limit, lowered for the test

    refused = ray_run(cluster, root, env=env, timeout=120)
    assert refused.returncode == 2, explain(refused)
    assert "past the" in refused.stderr and "largest files" in refused.stderr, explain(refused)
    listed = refused.stderr.split("largest files", 1)[1]
    assert listed.index("data/big.bin") < listed.index("cache/blob.bin")  # largest first
    assert "Traceback" not in refused.stderr
    assert "shipping" not in refused.stdout  # refused before anything was sent
    assert not (root / "results").exists()

    (root / ".gitignore").write_text("data/\n")
    (root / ".pyoneerignore").write_text("# big, and not needed on the nodes\ncache/\n")
    shipped = sorted(
        path.relative_to(root).as_posix() for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] not in ("data", "cache", ".pyoneer")
    )
    accepted = ray_run(cluster, root, env=env)
    assert accepted.returncode == 0, explain(accepted)
    assert f"shipping {len(shipped)} files" in accepted.stdout, (shipped, accepted.stdout)
    listing = load(root / "results/look.json")["listing"]
    assert "data" not in listing and "cache" not in listing and "look.py" in listing


def test_resume_hands_a_reused_jobs_ignored_outputs_to_the_node(cluster: RayCluster, tmp_path: Path) -> None:
    failed_once = tmp_path / "failed-once"
    root = make_project(
        tmp_path / "proj",
        f"""
        [environment]
        env = {{ FAILED_ONCE = {toml_string(failed_once)} }}

        [jobs.produce]
        tasks = ["produce.py"]
        resources = {{ custom = {{ big_disk = 1 }} }}
        outputs = ["results/*.json"]

        [jobs.consume]
        tasks = ["consume.py"]
        needs = ["produce"]
        resources = {{ custom = {{ gpu_like = 1 }} }}
        outputs = ["out/*.txt"]
        """,
        {
            ".gitignore": "results/\nout/\n",  # outputs, as is usual, kept out of version control
            "produce.py": "import json, os\nos.makedirs('results', exist_ok=True)\njson.dump([1, 2], open('results/data.json', 'w'))\n",
            "consume.py": """
                import json, os, sys
                if not os.path.exists(os.environ["FAILED_ONCE"]):
                    open(os.environ["FAILED_ONCE"], "w").close()
                    sys.exit("failing once")
                data = json.load(open("results/data.json"))
                os.makedirs("out", exist_ok=True)
                open("out/final.txt", "w").write(f"sum={sum(data)}")
            """,
        },
    )
    first = ray_run(cluster, root)
    assert first.returncode == 1, explain(first)
    assert load(root / "results/data.json") == [1, 2]  # produce's output came home
    second = ray_run(cluster, root, "--resume")
    assert "produce reused" in second.stdout, explain(second)
    assert second.returncode == 0, explain(second)
    assert (root / "out/final.txt").read_text() == "sum=3"


# Token authentication --------------------------------------------------------------


def _marker_project(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    root = write_project(tmp_path / "proj", '[jobs.a]\ntasks = ["a.py"]\n', {"a.py": f"open({str(marker)!r}, 'w').close()\n"})
    return root, marker


def test_a_run_without_the_token_is_refused(cluster: RayCluster, tmp_path: Path) -> None:
    root, marker = _marker_project(tmp_path)
    home = tmp_path / "home"  # so no ~/.ray/auth_token of this machine stands in for it
    home.mkdir()
    result = ray_run(cluster, root, env=child_env(RAY_AUTH_TOKEN=None, RAY_AUTH_TOKEN_PATH=None, HOME=str(home)),
                     timeout=120)
    assert result.returncode == 2, explain(result)
    assert "cannot connect" in result.stderr and "token" in result.stderr.lower(), explain(result)
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_run_with_a_wrong_token_is_refused(cluster: RayCluster, tmp_path: Path) -> None:
    root, marker = _marker_project(tmp_path)
    result = ray_run(cluster, root, env=child_env(RAY_AUTH_TOKEN=secrets.token_hex(32)), timeout=120)
    assert result.returncode == 2, explain(result)
    assert "cannot connect" in result.stderr and "RAY_AUTH_TOKEN" in result.stderr, explain(result)
    assert "Traceback" not in result.stderr
    assert not marker.exists()


# Ctrl-C ----------------------------------------------------------------------------


def test_ctrl_c_ends_the_tasks_and_their_children_on_the_node(cluster: RayCluster, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    root = make_project(
        tmp_path / "proj",
        f"""
        [environment]
        env = {{ PIDS_FILE = {toml_string(pids_file)} }}

        [jobs.sleepy]
        tasks = ["sleepy.py"]
        resources = {{ custom = {{ big_disk = 1 }} }}
        """,
        {"sleepy.py": """
            import os, subprocess, sys, time, where
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
            where.record(os.environ["PIDS_FILE"], grandchild=grandchild.pid)
            time.sleep(300)
        """},
    )
    out = (tmp_path / "run.out").open("wb")
    process = subprocess.Popen(
        pyoneer_command("run", str(root), "--engine", "ray", "--address", cluster.address),
        stdout=out, stderr=subprocess.STDOUT, env=child_env(),
    )
    pids: list[int] = []
    try:
        assert wait_until(pids_file.exists, timeout=120, interval=0.2), (tmp_path / "run.out").read_text()
        info = load(pids_file)
        pids = [info["pid"], info["grandchild"]]
        assert cluster.node_of(info["chain"]) == "a"
        assert all(is_alive(pid) for pid in pids)
        process.send_signal(signal.SIGINT)
        code = process.wait(90)
        output = (tmp_path / "run.out").read_text()
        assert code == 130, output
        assert wait_until(lambda: not any(is_alive(pid) for pid in pids), timeout=30, interval=0.2), (
            [(pid, _describe(pid)) for pid in pids if is_alive(pid)]
        )
        state = status_of(root)
        assert state["run"]["result"] == "interrupted"
        assert job_statuses(state) == {"sleepy": "cancelled"}
        assert cluster.job_directories("sleepy") == []  # its copy of the project was tidied away
    finally:
        out.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in pids:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def _waiting_job_project(root: Path, pids: Path, names: tuple[str, str]) -> Path:
    """Two jobs for node A's one big_disk: one runs (and sleeps), the other's actor waits."""
    first, second = names
    return make_project(
        root,
        f"""
        [environment]
        env = {{ PIDS = {toml_string(pids)} }}

        [jobs.{first}]
        tasks = ["sleepy.py {first}"]
        resources = {{ custom = {{ big_disk = 1 }} }}

        [jobs.{second}]
        tasks = ["sleepy.py {second}"]
        resources = {{ custom = {{ big_disk = 1 }} }}
        """,
        {"sleepy.py": """
            import os, sys, time, where
            where.record(os.path.join(os.environ["PIDS"], sys.argv[1] + ".json"))
            time.sleep(300)
        """},
    )


def _interrupt_while_one_waits(cluster: RayCluster, tmp_path: Path, names: tuple[str, str]) -> tuple[int, str, list[int]]:
    """Run the two jobs, SIGINT once one runs; the exit code, the output and the started pids."""
    pids = tmp_path / "pids"
    pids.mkdir()
    root = _waiting_job_project(tmp_path / "proj", pids, names)
    out = (tmp_path / "run.out").open("wb")
    process = subprocess.Popen(
        pyoneer_command("run", str(root), "--engine", "ray", "--address", cluster.address),
        stdout=out, stderr=subprocess.STDOUT, env=child_env(),
    )
    started: list[int] = []
    try:
        assert wait_until(lambda: any(pids.iterdir()), timeout=120, interval=0.2), (tmp_path / "run.out").read_text()
        time.sleep(1)
        assert len(list(pids.iterdir())) == 1  # the other waits for node A
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(90)
        assert time.monotonic() - began < 30
        time.sleep(2)  # the waiting job must not start once its node is free
        started = [load(path)["pid"] for path in pids.iterdir()]
        assert wait_until(lambda: not any(is_alive(pid) for pid in started), timeout=30, interval=0.2)
        return code, (tmp_path / "run.out").read_text(), started
    finally:
        out.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in started:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_ctrl_c_while_a_job_waits_for_its_node(cluster: RayCluster, tmp_path: Path) -> None:
    code, output, started = _interrupt_while_one_waits(cluster, tmp_path, ("runner", "waiter"))
    assert code == 130, output
    assert len(started) == 1, output
    assert job_statuses(status_of(tmp_path / "proj")) == {"runner": "cancelled", "waiter": "cancelled"}


def test_ctrl_c_leaves_no_copy_of_the_project_on_the_nodes(cluster: RayCluster, tmp_path: Path) -> None:
    code, output, _ = _interrupt_while_one_waits(cluster, tmp_path, ("hasty", "patient"))
    assert code == 130, output
    left = cluster.job_directories("hasty") + cluster.job_directories("patient")
    assert not left, f"left on the nodes: {left}"


def test_without_an_address_a_local_ray_is_started_on_loopback_and_stopped(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", '[jobs.probe]\ntasks = ["probe.py here"]\noutputs = ["results/*.json"]\n',
                        {"probe.py": PROBE})
    env = child_env(RAY_ADDRESS=None, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=None)
    with (tmp_path / "run.out").open("wb") as out:
        process = subprocess.Popen(pyoneer_command("run", str(root), "--engine", "ray"), stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
        code = process.wait(RUN_TIMEOUT)
    output = (tmp_path / "run.out").read_text()
    assert code == 0, output
    assert "to a local Ray instance (127.0.0.1)" in output
    here = load(root / "results/here.json")
    mine = here["chain"][: here["chain"].index(process.pid)]  # up to the pyoneer that started Ray
    assert "raylet" in [name for pid, name in zip(here["chain"], here["names"]) if pid in mine], here
    # the Ray of the run went with it: its raylet and the task's worker process
    assert wait_until(lambda: not any(is_alive(pid) for pid in mine), timeout=30, interval=0.2), [
        (pid, _describe(pid)) for pid in mine if is_alive(pid)
    ]


# Failing well instead of hanging --------------------------------------------------


def test_a_job_whose_environment_cannot_be_built_fails_and_the_run_ends(cluster: RayCluster, tmp_path: Path) -> None:
    # Ray cannot build this environment on the node (a requirement that is no package;
    # without virtualenv, no pip environment at all): the actor is never made
    root = make_project(
        tmp_path / "proj",
        """
        [environment]
        packages = ["/nonexistent/pyoneer-test-requirement"]

        [jobs.needy]
        tasks = ["probe.py needy"]
        resources = { custom = { big_disk = 1 } }

        [jobs.after]
        tasks = ["probe.py after"]
        needs = ["needy"]
        """,
        {"probe.py": PROBE},
    )
    ended = run_bounded(["run", str(root), "--engine", "ray", "--address", cluster.address], 120, tmp_path)
    assert ended.code == 1, f"exit {ended.code} after {ended.seconds:.0f} s:\n{ended.output[-3000:]}"
    assert "needy failed: RuntimeEnvSetupError" in ended.output, ended.output
    assert "Traceback" not in ended.output
    state = status_of(root)
    assert job_statuses(state) == {"needy": "failed", "after": "skipped"}
    assert "RuntimeEnvSetupError" in next(row["reason"] for row in state["blueprints"] if row["name"] == "needy")
    assert not (root / "results").exists()


def test_an_address_where_nothing_listens_exits_2_at_once(cluster: RayCluster, tmp_path: Path) -> None:
    root, marker = _marker_project(tmp_path)
    ended = run_bounded(["run", str(root), "--engine", "ray", "--address", f"127.0.0.1:{free_port()}"], 30, tmp_path)
    assert ended.code == 2, f"exit {ended.code} after {ended.seconds:.0f} s:\n{ended.output[-2000:]}"
    assert "cannot connect" in ended.output and "Traceback" not in ended.output
    assert ended.seconds < 20
    assert not marker.exists()


def test_an_address_where_something_else_listens_exits_2_promptly(cluster: RayCluster, tmp_path: Path) -> None:
    root, marker = _marker_project(tmp_path)
    with socket.socket() as other:  # listens (connections queue in its backlog) but never speaks Ray
        other.bind(("127.0.0.1", 0))
        other.listen(16)
        address = f"127.0.0.1:{other.getsockname()[1]}"
        ended = run_bounded(["run", str(root), "--engine", "ray", "--address", address], 30, tmp_path)
    assert ended.code == 2, f"exit {ended.code} after {ended.seconds:.0f} s:\n{ended.output[-2000:]}"
    assert "cannot connect" in ended.output
    assert not marker.exists()


def test_a_loopback_cluster_is_reached_without_the_loopback_setting(cluster: RayCluster, tmp_path: Path) -> None:
    # Without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray would turn 127.0.0.1 into this
    # machine's outward address, where this cluster does not listen
    root = make_project(tmp_path / "proj", '[jobs.probe]\ntasks = ["probe.py x"]\noutputs = ["results/*.json"]\n',
                        {"probe.py": PROBE})
    for address in (cluster.address, cluster.address.replace("127.0.0.1", "localhost")):
        ended = run_bounded(["run", str(root), "--engine", "ray", "--address", address], 90, tmp_path,
                            env=child_env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=None))
        assert ended.code == 0, f"{address}: exit {ended.code} after {ended.seconds:.0f} s:\n{ended.output[-2000:]}"
        assert cluster.node_of(load(root / "results/x.json")["chain"]) is not None
        (root / "results/x.json").unlink()


def test_idle_workers_do_not_hold_back_a_job_that_needs_their_nodes(cluster: RayCluster, tmp_path: Path) -> None:
    # a and b leave idle workers whose actors hold the CPUs of nodes A and B; c needs one
    # of those nodes, and fits neither worker: they must go at once, not after 60 s idle
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.a]
        tasks = ["probe.py a"]
        resources = { custom = { big_disk = 1 } }
        outputs = ["results/*.json"]

        [jobs.b]
        tasks = ["probe.py b"]
        resources = { custom = { gpu_like = 1 } }
        outputs = ["results/*.json"]

        [jobs.c]
        tasks = ["probe.py c"]
        needs = ["a", "b"]
        resources = { custom = { shared = 1 } }
        outputs = ["results/*.json"]
        """,
        {"probe.py": PROBE},
    )
    ended = run_bounded(["run", str(root), "--engine", "ray", "--address", cluster.address], 45, tmp_path)
    assert ended.code == 0, f"exit {ended.code} after {ended.seconds:.0f} s:\n{ended.output[-2000:]}"
    assert cluster.node_of(load(root / "results/c.json")["chain"]) in ("a", "b")


def test_a_job_waiting_for_a_resource_gets_it_when_the_job_before_it_ends(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        """
        [jobs.x]
        tasks = ["probe.py x"]
        resources = { custom = { big_disk = 1 } }
        outputs = ["results/*.json"]

        [jobs.y]
        tasks = ["probe.py y"]
        resources = { custom = { big_disk = 1 } }
        outputs = ["results/*.json"]
        """,
        {"probe.py": PROBE},
    )
    # about 5 s when y's actor gets node A as soon as x is done; 60 s more if not
    ended = run_bounded(["run", str(root), "--engine", "ray", "--address", cluster.address], 40, tmp_path)
    assert ended.code == 0, f"exit {ended.code} after {ended.seconds:.0f} s:\n{ended.output[-2000:]}"
    for job in ("x", "y"):
        assert cluster.node_of(load(tmp_path / f"proj/results/{job}.json")["chain"]) == "a"


# A node lost mid-job (last: it takes a node out of the cluster) --------------------


def _parent(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


def _carrying(marks: dict[str, str]) -> list[int]:
    """Every live process on this machine whose environment holds all of ``marks``."""
    wanted = {f"{name}={value}".encode() for name, value in marks.items()}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and is_alive(int(entry)):
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if wanted <= set(environ.read().split(b"\0")):
                        found.append(int(entry))
            except OSError:
                continue
    return found


#: attempt 1 leaves a child running (Popen, never waited for) and a daemon whose parent
#: is gone (it left the session, and the process that started it ended), then sleeps
LEAVES_CHILDREN = """
import os, subprocess, sys, time, where
first_mark = os.path.join(os.environ["INFO"], "first.json")
if not os.path.exists(first_mark):
    sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
    child = subprocess.Popen(sleep)
    starter = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                                "print(subprocess.Popen(sys.argv[1:], start_new_session=True, stdout=subprocess.DEVNULL).pid)", *sleep],
                               stdout=subprocess.PIPE, text=True)
    daemon = int(starter.communicate()[0])
    where.record(first_mark, child=child.pid, daemon=daemon)
    time.sleep(300)  # the node is taken away under it
where.record("results/done.json")
"""


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("first_to_die", ["node", "raylet", "actor"])
def test_a_lost_worker_leaves_nothing_of_its_attempt_running(cluster: RayCluster, tmp_path: Path,
                                                             first_to_die: str) -> None:
    """The node removed without grace (every process of Ray's on it SIGKILLed at once),
    its raylet alone SIGKILLed (as the OOM killer does), or the actor's process alone."""
    info = tmp_path / "info"
    info.mkdir()
    root = make_project(
        tmp_path / "proj",
        f"""
        [environment]
        env = {{ INFO = {toml_string(info)} }}

        [jobs.long]
        tasks = ["long.py", "after.py"]
        resources = {{ custom = {{ shared = 1 }} }}
        """,
        {"long.py": LEAVES_CHILDREN, "after.py": "print('after')"},
    )
    out = (tmp_path / "run.out").open("wb")
    process = subprocess.Popen(
        pyoneer_command("run", str(root), "--engine", "ray", "--address", cluster.address),
        stdout=out, stderr=subprocess.STDOUT, env=child_env(),
    )
    pids: list[int] = []
    lost_node = None
    try:
        assert wait_until((info / "first.json").exists, timeout=120, interval=0.2), (tmp_path / "run.out").read_text()
        first = load(info / "first.json")
        pids = [first["pid"], first["child"], first["daemon"]]
        attempt = {name: first["env"][name] for name in ("PYONEER_RUN_ID", "PYONEER_JOB", "PYONEER_ATTEMPT")}
        assert all(is_alive(pid) for pid in pids)
        # (a task forked warm carries its marks in os.environ only, not in /proc)
        assert set(pids[1:]) <= set(_carrying(attempt))
        lost_node = cluster.node_of(first["chain"])
        assert lost_node in ("a", "b"), first
        time.sleep(1)  # the manager's side polls the node every 0.25 s: let it hear of the start
        removed = time.monotonic()
        if first_to_die == "node":
            cluster.remove(lost_node, graceful=False)
        elif first_to_die == "raylet":
            _kill(cluster.raylets[lost_node])
        else:
            _kill(first["chain"][first["names"].index("ray::NodeWorker")])
        # nothing of the lost attempt runs on this machine a few seconds on: not the task,
        # not its child, not the daemon whose parent is gone, nothing carrying its marks
        gone = wait_until(lambda: not alive(pids) and not _carrying(attempt), timeout=15, interval=0.2)
        left = sorted(set(alive(pids)) | set(_carrying(attempt)))
        assert gone, f"{time.monotonic() - removed:.0f} s after the {first_to_die} was killed:\n" + "\n".join(
            f"  {pid} (parent {_parent(pid)}): {_describe(pid)}" for pid in left)
        code = process.wait(RUN_TIMEOUT)
        output = (tmp_path / "run.out").read_text()
        assert code == 0, output
        state = status_of(root)
        assert job_statuses(state) == {"long": "succeeded"}
        assert "lost" in {row["status"] for row in state["pyoneers"] if row["role"] == "worker"}
    finally:
        out.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in pids:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if first_to_die == "raylet" and lost_node in cluster.nodes:
            cluster.remove(lost_node, graceful=False)  # the rest of the node's processes
        if lost_node is not None and lost_node not in cluster.nodes:
            cluster.replace(lost_node)  # the tests after this one take a node away too


def test_a_job_on_a_removed_node_is_reassigned_and_succeeds(cluster: RayCluster, tmp_path: Path) -> None:
    info = tmp_path / "info"
    info.mkdir()
    root = make_project(
        tmp_path / "proj",
        f"""
        [environment]
        env = {{ INFO = {toml_string(info)} }}

        [jobs.long]
        tasks = ["long.py"]
        resources = {{ custom = {{ shared = 1 }} }}
        outputs = ["results/*.json"]
        """,
        {"long.py": """
            import os, time, where
            print("attempt", os.environ["PYONEER_ATTEMPT"], "starts", flush=True)
            first_mark = os.path.join(os.environ["INFO"], "first.json")
            if not os.path.exists(first_mark):
                where.record(first_mark)
                time.sleep(300)  # the node is taken away under it
            where.record("results/done.json")
        """},
    )
    out = (tmp_path / "run.out").open("wb")
    process = subprocess.Popen(
        pyoneer_command("run", str(root), "--engine", "ray", "--address", cluster.address),
        stdout=out, stderr=subprocess.STDOUT, env=child_env(),
    )
    first_pid = None
    try:
        assert wait_until((info / "first.json").exists, timeout=120, interval=0.2), (tmp_path / "run.out").read_text()
        first = load(info / "first.json")
        first_pid = first["pid"]
        lost_node = cluster.node_of(first["chain"])
        assert lost_node in ("a", "b"), first
        other_node = {"a": "b", "b": "a"}[lost_node]
        other_raylet = cluster.raylets[other_node]
        time.sleep(1)  # the manager's side polls the node every 0.25 s: let it hear of the start
        cluster.remove(lost_node)
        code = process.wait(RUN_TIMEOUT)
        output = (tmp_path / "run.out").read_text()
        assert code == 0, output
        done = load(root / "results/done.json")
        assert other_raylet in done["chain"], (other_node, done)
        assert done["pid"] != first_pid
        # the first attempt's process went with its node
        assert wait_until(lambda: not is_alive(first_pid), timeout=30, interval=0.2), _describe(first_pid)
        state = status_of(root)
        assert job_statuses(state) == {"long": "succeeded"}
        statuses = {row["id"]: row["status"] for row in state["pyoneers"] if row["role"] == "worker"}
        assert "lost" in statuses.values(), statuses
        holder = next(row["pyoneer"] for row in state["blueprints"] if row["kind"] == "job")
        assert statuses[holder] != "lost"  # the job ended with the worker it was handed to
        # the loss is an event of the run's ledger, and the run's output says so
        with contextlib.closing(sqlite3.connect(f"file:{root / '.pyoneer/ledger.db'}?mode=ro", uri=True)) as db:
            lost = db.execute("SELECT subject, detail FROM events WHERE change = 'lost'").fetchall()
        assert {subject for subject, _ in lost} == {name for name, status in statuses.items() if status == "lost"}
        assert any((detail or "").startswith("while running long: ") for _, detail in lost), lost
        assert "lost" in output
        assert _events(root, "long/long", "running") == 2  # the attempt on the lost node, and the new one
        # every attempt keeps its row: the lost one, cancelled and saying why, before the retry
        attempts = sorted((row for row in state["blueprints"] if row["name"] == "long/long"), key=lambda row: row["attempt"])
        assert [(row["attempt"], row["status"]) for row in attempts] == [(1, "cancelled"), (2, "succeeded")]
        assert attempts[0]["reason"].startswith("worker lost (") and attempts[0]["pyoneer"] in statuses
        assert statuses[attempts[0]["pyoneer"]] == "lost"
        logs = {path.name: path.read_text() for path in (root / ".pyoneer" / "runs").glob("*/long/long.*.log")}
        assert logs == {"long.1.log": "attempt 1 starts\n", "long.2.log": "attempt 2 starts\n"}  # and its log
        assert "worker lost (" in output  # the summary says so too
    finally:
        out.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        if first_pid is not None and is_alive(first_pid):
            os.kill(first_pid, signal.SIGKILL)








def test_members_whose_values_hold_slashes_and_spaces_run_and_log_on_a_node(cluster: RayCluster, tmp_path: Path) -> None:
    root = make_project(tmp_path / "odd", '[jobs.build]\nmatrix = { image = ["16/Dockerfile.c9s", "ubuntu 22.04"] }\n'
                                          'tasks = ["say.py {image}"]\n',
                        {"say.py": "import sys\nprint('built', sys.argv[1])\n"})
    result = ray_run(cluster, root)
    assert result.returncode == 0, explain(result)
    for value in ("16/Dockerfile.c9s", "ubuntu 22.04"):  # its log folder on the node and at home: escaped
        shown = run_cli("logs", str(root), f"build[image={value}]/say")
        assert shown.stdout == f"built {value}\n", shown.stderr
