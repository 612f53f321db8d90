"""Submitted runs on a real Ray cluster with its job server: two nodes on this machine,
loopback only, token authentication on.

Every command is the real CLI in a child process; the cluster's Python is this one (its
directory first on the cluster's PATH, as an activated virtual environment would be),
and its projects' directories go to a temporary PYONEER_CLUSTER_HOME. The job server is
reached through a relay on 127.0.0.2 (``relay.Relay``) that a test can cut and keep down.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

for _module in ("ray", "pathspec", "aiohttp"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"submitted runs' tests need {_module} (pip install 'pyoneer[ray]')", allow_module_level=True)

_NAMES = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS",
          "PATH", "PYONEER_CLUSTER_HOME")
_SAVED = {name: os.environ.get(name) for name in _NAMES}
TOKEN = secrets.token_hex(32)

from conftest import child_env, pyoneer_command, wait_until, write_project  # noqa: E402
from processes import descendants, is_alive  # noqa: E402
from relay import Relay  # noqa: E402

#: seconds a small submitted run may take, start to end, on a slow, busy machine
RUN_TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JobCluster:
    """A head node with its job server, and one more node."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pyoneer-cluster-home-"))
        #: first on the head's PATH, empty: a test puts another ``python`` there for a while
        self.shims = Path(tempfile.mkdtemp(prefix="pyoneer-cluster-shims-"))
        self.port = _free_port()
        os.environ.update({
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN,
            "PATH": os.pathsep.join([str(self.shims), os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
            "PYONEER_CLUSTER_HOME": str(self.home),
        })
        for name in ("RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
            os.environ.pop(name, None)
        # after: Ray reads the token's settings as it is imported, and keeps them (another
        # module's cluster, earlier in this process, had a token of its own)
        from ray._private.authentication_test_utils import reset_auth_token_state
        from ray.cluster_utils import Cluster

        reset_auth_token_state()

        self.cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": self.port,
            # not Ray's default: another cluster on this machine (a test run beside this
            # one) holds it, and the job server then has no agent to run jobs
            "dashboard_agent_listen_port": _free_port(),
        })
        self.cluster.add_node(num_cpus=1)
        self.cluster.wait_for_nodes()
        self.relay = Relay(self.port)
        self.direct = f"http://127.0.0.1:{self.port}"
        #: what the user's machine is given: the job server, through the relay
        self.address = f"http://127.0.0.2:{self.port}"
        assert wait_until(self._serving, timeout=120), "the job server did not come up"

    def _serving(self) -> bool:
        import urllib.request

        asked = urllib.request.Request(f"{self.direct}/api/version", headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(asked, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def processes(self) -> set[int]:
        """Every live process of the cluster's nodes, and below them."""
        roots = {info.process.pid for node in self.cluster.list_all_nodes()
                 for infos in node.all_processes.values() for info in infos}
        found = set(roots)
        for pid in roots:
            found |= set(descendants(pid))
        return {pid for pid in found if is_alive(pid)}

    def shutdown(self) -> None:
        self.relay.close()
        self.cluster.shutdown()


@pytest.fixture(scope="module")
def cluster():
    try:
        made = JobCluster()
    except BaseException:
        _restore()
        raise
    try:
        yield made
    finally:
        made.shutdown()
        _restore()


def _restore() -> None:
    for name, value in _SAVED.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if "ray" in sys.modules:
        from ray._private.authentication_test_utils import reset_auth_token_state

        reset_auth_token_state()


def cli(*args: str, timeout: float = RUN_TIMEOUT, **env: str | None) -> subprocess.CompletedProcess[str]:
    """``pyoneer ARGS`` to its end, with the cluster's token (or ``env``'s changes)."""
    return subprocess.run(pyoneer_command(*args), capture_output=True, text=True, errors="replace", timeout=timeout,
                          env=child_env(**env))


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


WORDS = """
[project]
name = "words"
[jobs.count]
tasks = ["count.py"]
outputs = ["out/count.txt"]
[jobs.report]
tasks = ["report.py"]
needs = ["count"]
outputs = ["out/report.txt"]
"""
COUNT = """
import os, sys
os.makedirs("out", exist_ok=True)
print("counting", flush=True)
sys.stdout.buffer.write(b"not utf-8: \\xff\\xfe\\n")
open("out/count.txt", "w").write("42\\n")
"""
REPORT = """
print("reporting", flush=True)
open("out/report.txt", "w").write("count: " + open("out/count.txt").read())
"""


def words(tmp_path: Path) -> Path:
    return write_project(tmp_path / "words", WORDS, {"count.py": COUNT, "report.py": REPORT})


def submit(cluster: JobCluster, root: Path, *args: str) -> str:
    """Submit the project at ``root``; its run id."""
    result = cli("submit", str(root), "--address", cluster.address, *args, timeout=120)
    assert result.returncode == 0, explain(result)
    return result.stdout.split("submitted run ", 1)[1].split()[0]


def mirror_rows(root: Path, run_id: str, table: str) -> list[tuple]:
    with sqlite3.connect(root / ".pyoneer" / "ledger.db") as db:
        if table == "events":
            return db.execute("SELECT at, subject, change, detail FROM events WHERE run_id = ? ORDER BY seq",
                              (run_id,)).fetchall()
        return db.execute(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY 1, 2, 3, 4", (run_id,)).fetchall()


def cluster_root(cluster: JobCluster, root: Path) -> Path:
    with sqlite3.connect(root / ".pyoneer" / "ledger.db") as db:
        (home,) = db.execute("SELECT home FROM submissions ORDER BY submitted DESC LIMIT 1").fetchone()
    return cluster.home / home


def cluster_rows(cluster: JobCluster, root: Path, run_id: str, table: str) -> list[tuple]:
    return mirror_rows(cluster_root(cluster, root), run_id, table)


def assert_mirrored(cluster: JobCluster, root: Path, run_id: str) -> None:
    """The mirror holds exactly the cluster's rows of the run (none lost, none twice), and its logs."""
    for table in ("assignments", "events"):
        assert mirror_rows(root, run_id, table) == cluster_rows(cluster, root, run_id, table), table
    there = cluster_root(cluster, root) / ".pyoneer" / "runs" / run_id
    for log in there.rglob("*.log"):
        assert (root / ".pyoneer" / "runs" / run_id / log.relative_to(there)).read_bytes() == log.read_bytes()


def test_a_submitted_run_outlives_the_command_that_submitted_it(cluster: JobCluster, tmp_path: Path) -> None:
    root = words(tmp_path)
    started = time.monotonic()
    submitting = subprocess.Popen(pyoneer_command("submit", str(root), "--address", cluster.address),
                                  stdout=subprocess.PIPE, text=True, env=child_env())
    first = submitting.stdout.readline()
    submitting.kill()  # at once, as a laptop's lid closes
    submitting.wait()
    assert first.startswith("submitted run "), first
    run_id = first.split()[2]
    print(f"submit answered in {time.monotonic() - started:.1f} s")
    home = None
    assert wait_until(lambda: bool(list(cluster.home.glob("words-*/out/report.txt"))), timeout=RUN_TIMEOUT)
    home = next(cluster.home.glob("words-*"))
    assert (home / "out" / "report.txt").read_text() == "count: 42\n"

    attached = cli("attach", "--path", str(root))
    assert attached.returncode == 0, explain(attached)
    assert "count succeeded" in attached.stdout and "done: 2 succeeded" in attached.stdout, explain(attached)
    state = json.loads(cli("status", str(root), "--json").stdout)
    assert state["run"]["id"] == run_id and state["run"]["result"] == "succeeded"
    listed = json.loads(cli("runs", str(root), "--json").stdout)
    assert [run["id"] for run in listed] == [run_id]
    logs = cli("logs", str(root), "count")
    assert "counting" in logs.stdout, explain(logs)
    assert_mirrored(cluster, root, run_id)
    assert not (root / "out").exists()  # outputs stay on the cluster until fetched

    fetched = cli("fetch", "--path", str(root))
    assert fetched.returncode == 0, explain(fetched)
    for name in ("count.txt", "report.txt"):
        local, there = root / "out" / name, home / "out" / name
        assert local.read_bytes() == there.read_bytes()
        assert local.stat().st_mtime_ns == there.stat().st_mtime_ns

    again = cli("submit", str(root), "--resume", timeout=120)  # the address is remembered
    assert again.returncode == 0, explain(again)
    resumed = cli("attach", "--path", str(root))
    assert resumed.returncode == 0 and "reused" in resumed.stdout, explain(resumed)
    state = json.loads(cli("status", str(root), "--json").stdout)
    assert state["run"]["id"] != run_id
    jobs = {row["name"]: row["reused"] for row in state["blueprints"] if row["kind"] == "job"}
    assert jobs == {"count": True, "report": True}, state


def test_a_head_whose_path_finds_a_python_without_ray_is_told_and_python_names_the_right_one(
        cluster: JobCluster, tmp_path: Path) -> None:
    # the head's PATH finds a python of an environment without Ray first (as when Ray was
    # started from a virtual environment that is not active where its job server runs)
    bare = tmp_path / "bare-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    root = write_project(tmp_path / "hello", "[jobs.hello]\ntasks = ['hello.py']\n", {"hello.py": "print('hello')\n"})
    # first with the head as it was started (first in the module, its job server may still
    # be waiting for its agent)
    tried: list[subprocess.CompletedProcess[str]] = []
    assert wait_until(lambda: tried.append(cli("submit", str(root), "--address", cluster.address, timeout=120))
                      or tried[-1].returncode == 0, timeout=180, interval=3), explain(tried[-1])
    assert cli("attach", "--path", str(root)).returncode == 0
    shim = cluster.shims / "python"
    shim.write_text(f"#!/bin/sh\nexec {bare / 'bin' / 'python'} \"$@\"\n")
    shim.chmod(0o755)
    try:
        submit(cluster, root)
        attached = cli("attach", "--path", str(root))
        assert attached.returncode == 2, explain(attached)
        told = attached.stderr
        assert f"ran under {bare / 'bin' / 'python'} on the head" in told, explain(attached)
        assert "the `python` that the head's PATH chose" in told and "Ray is not installed there" in told, told
        assert f"Ray runs here under {sys.executable}" in told, told  # the raylet's own, found for the hint
        assert f"pyoneer submit --python {sys.executable}" in told, told

        # --python names the head's interpreter: one that is not there is told as such
        submit(cluster, root, "--python", str(tmp_path / "no-env" / "bin" / "python"))
        attached = cli("attach", "--path", str(root))
        assert attached.returncode == 1, explain(attached)
        assert "before the run began" in attached.stderr, explain(attached)
        assert f"(is {tmp_path / 'no-env' / 'bin' / 'python'}, named by --python" in attached.stderr, explain(attached)
        # and the right one runs the run's manager
        submit(cluster, root, "--python", sys.executable)
        attached = cli("attach", "--path", str(root))
        assert attached.returncode == 0 and "hello succeeded" in attached.stdout, explain(attached)

        # and so does [engine] python in the project file (a bad one is told as such)
        (root / "pyoneer.toml").write_text(f"[engine]\npython = {json.dumps(str(bare / 'bin' / 'python'))}\n"
                                           "[jobs.hello]\ntasks = ['hello.py']\n")
        submit(cluster, root)
        attached = cli("attach", "--path", str(root))
        assert attached.returncode == 2, explain(attached)
        assert "the interpreter that --python or [engine] python named" in attached.stderr, explain(attached)
        (root / "pyoneer.toml").write_text(f"[engine]\npython = {json.dumps(sys.executable)}\n"
                                           "[jobs.hello]\ntasks = ['hello.py']\n")
        submit(cluster, root)
        attached = cli("attach", "--path", str(root))
        assert attached.returncode == 0 and "hello succeeded" in attached.stdout, explain(attached)
    finally:
        shim.unlink()


def test_attach_exits_with_the_runs_exit_code_and_its_failures(cluster: JobCluster, tmp_path: Path) -> None:
    root = write_project(tmp_path / "bad", "[jobs.bad]\ntasks = ['bad.py']\n",
                         {"bad.py": "print('about to fail'); raise SystemExit(3)\n"})
    submit(cluster, root)
    attached = cli("attach", "--path", str(root))
    assert attached.returncode == 1, explain(attached)
    assert "bad failed" in attached.stdout and "about to fail" in attached.stdout, explain(attached)


TICKS = """
import os, sys, time
print("pid", os.getpid(), flush=True)
open(os.environ["MARK"], "w").write(str(os.getpid()))
for number in range(1, int(sys.argv[1]) + 1):
    print("tick", number, flush=True)
    time.sleep(0.1)
"""


def ticking(tmp_path: Path, ticks: int, name: str = "ticks") -> tuple[Path, Path]:
    mark = tmp_path / f"{name}.pid"
    toml = f"""
    [project]
    name = "{name}"
    [environment]
    env = {{ MARK = "{mark}" }}
    [jobs.tick]
    tasks = [{{ script = "tick.py", args = ["{ticks}"] }}]
    """
    return write_project(tmp_path / name, toml, {"tick.py": TICKS}), mark


def test_attach_survives_a_detach_and_a_network_loss_with_no_event_lost_or_twice(
    cluster: JobCluster, tmp_path: Path
) -> None:
    root, mark = ticking(tmp_path, 150)
    run_id = submit(cluster, root)
    assert wait_until(mark.exists, timeout=RUN_TIMEOUT)
    first = subprocess.Popen(pyoneer_command("attach", "--path", str(root)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=child_env())
    time.sleep(3)
    first.send_signal(signal.SIGINT)  # Ctrl-C: detach
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0 and "detached" in err, (out, err)
    assert is_alive(int(mark.read_text()))  # the run goes on

    second = subprocess.Popen(pyoneer_command("attach", "--path", str(root)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=child_env())
    time.sleep(2)
    cluster.relay.down.set()  # the network goes: open connections cut, new ones refused
    cluster.relay.cut()
    away = cli("status", str(root), timeout=120)  # from the mirror, saying so
    assert away.returncode == 0 and "cannot" in away.stderr and "mirror" in away.stderr, explain(away)
    assert run_id in away.stdout, explain(away)
    time.sleep(2)
    cluster.relay.down.clear()
    out, err = second.communicate(timeout=RUN_TIMEOUT)
    assert second.returncode == 0, (out, err)
    assert "lost touch with the cluster" in err and "back in touch" in err, err
    assert out.count("tick succeeded") == 1, out
    assert_mirrored(cluster, root, run_id)
    log = (root / ".pyoneer" / "runs" / run_id / "tick" / "tick.1.log").read_text()
    assert [line for line in log.splitlines() if line.startswith("tick")] == [f"tick {n}" for n in range(1, 151)]


def test_status_logs_and_runs_follow_a_submitted_run_while_it_runs(cluster: JobCluster, tmp_path: Path) -> None:
    root, mark = ticking(tmp_path, 60, "follow")
    run_id = submit(cluster, root)
    assert wait_until(mark.exists, timeout=RUN_TIMEOUT)
    state = json.loads(cli("status", str(root), "--json").stdout)
    assert state["run"]["id"] == run_id and state["run"]["result"] == "running", state
    followed = cli("logs", str(root), "tick", "-f")
    assert followed.returncode == 0, explain(followed)
    ticks = [line for line in followed.stdout.splitlines() if line.startswith("tick")]
    assert ticks == [f"tick {n}" for n in range(1, 61)], followed.stdout
    assert wait_until(lambda: json.loads(cli("runs", str(root), "--json").stdout)[-1]["result"] == "succeeded",
                      timeout=60)


def test_stop_ends_the_tasks_on_every_node_and_marks_the_run_interrupted(cluster: JobCluster, tmp_path: Path) -> None:
    root, mark = ticking(tmp_path, 100_000, "stopping")
    run_id = submit(cluster, root)
    assert wait_until(mark.exists, timeout=RUN_TIMEOUT)
    task = int(mark.read_text())
    assert task in cluster.processes()
    stopped = cli("stop", "--path", str(root))
    assert stopped.returncode == 0 and "interrupted" in stopped.stdout, explain(stopped)
    assert wait_until(lambda: not is_alive(task), timeout=30)
    state = json.loads(cli("status", str(root), "--json").stdout)
    assert state["run"]["id"] == run_id and state["run"]["result"] == "interrupted", state
    # and no actor of the run's workers is left on any node
    assert wait_until(lambda: not [pid for pid in cluster.processes() if "NodeWorker" in _cmdline(pid)], timeout=30)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_a_run_whose_manager_dies_with_the_cluster_is_lost_not_running(cluster: JobCluster, tmp_path: Path) -> None:
    root, mark = ticking(tmp_path, 100_000, "doomed")
    run_id = submit(cluster, root)
    assert wait_until(mark.exists, timeout=RUN_TIMEOUT)
    cli("status", str(root))  # the mirror hears the run begin: its manager's pid
    with sqlite3.connect(root / ".pyoneer" / "ledger.db") as db:
        (manager,) = db.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()
    os.kill(manager, signal.SIGKILL)  # as if its head node died
    attached = cli("attach", "--path", str(root))
    assert attached.returncode == 1 and "lost" in attached.stderr, explain(attached)
    state = json.loads(cli("status", str(root), "--json").stdout)
    assert state["run"]["result"] == "lost", state
    assert wait_until(lambda: not is_alive(int(mark.read_text())), timeout=60)


def test_a_wrong_or_missing_token_is_refused_and_nothing_is_submitted(cluster: JobCluster, tmp_path: Path) -> None:
    root = words(tmp_path)
    before = sorted(cluster.home.glob("*/.pyoneer/runs/*"))
    for token in (secrets.token_hex(32), None):
        result = cli("submit", str(root), "--address", cluster.address, RAY_AUTH_TOKEN=token, timeout=60)
        assert result.returncode == 2, explain(result)
        assert "token" in result.stderr and "Traceback" not in result.stderr, explain(result)
    assert sorted(cluster.home.glob("*/.pyoneer/runs/*")) == before
    assert "no run of this project was submitted" in cli("attach", "--path", str(root)).stderr


def test_an_unreachable_job_server_and_a_bad_project_are_told_before_anything_travels(tmp_path: Path) -> None:
    root = words(tmp_path)
    result = cli("submit", str(root), "--address", f"http://127.0.0.1:{_free_port()}", timeout=60)
    assert result.returncode == 2 and "cannot connect to the Ray job server" in result.stderr, explain(result)
    bad = write_project(tmp_path / "bad", "[jobs.x]\ntasks = ['missing.py']\n")
    result = cli("submit", str(bad), "--address", "http://127.0.0.1:1", timeout=60)
    assert result.returncode == 2 and "missing.py" in result.stderr, explain(result)
    result = cli("submit", str(root), RAY_ADDRESS=None, timeout=60)
    assert result.returncode == 2 and "--address" in result.stderr, explain(result)


@pytest.mark.skipif(importlib.util.find_spec("starlette") is None, reason="pyoneer ui needs pyoneer[ui]")
def test_the_web_view_keeps_a_submitted_runs_mirror_growing(cluster: JobCluster, tmp_path: Path) -> None:
    import http.client
    import re

    root, mark = ticking(tmp_path, 40, "watched")
    run_id = submit(cluster, root)
    assert wait_until(mark.exists, timeout=RUN_TIMEOUT)
    cli("status", str(root))  # the mirror knows the run began
    ui = subprocess.Popen(pyoneer_command("ui", str(root), "--no-browser", "--port", "0"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        said = ""
        while "token=" not in said:
            line = ui.stderr.readline()
            assert line, said
            said += line
        port, token = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", said).groups()

        def result() -> str:  # what the page's data says of the run: the mirror, as it grows
            connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            connection.request("GET", f"/?token={token}", headers={"Host": f"127.0.0.1:{port}"})
            cookie = connection.getresponse().getheader("set-cookie").split(";")[0]
            connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            connection.request("GET", f"/api/runs/{run_id}", headers={"Host": f"127.0.0.1:{port}", "Cookie": cookie})
            return json.loads(connection.getresponse().read())["run"]["result"]

        assert result() == "running"
        # no other command runs: the view's own follower brings the end home
        assert wait_until(lambda: result() == "succeeded", timeout=RUN_TIMEOUT, interval=0.5)
    finally:
        ui.send_signal(signal.SIGINT)
        assert ui.wait(30) == 0
