"""The entrypoint of a submitted run's Ray job: the manager, on the cluster.

``python -m pyoneer.submission.driver run OPTIONS`` (OPTIONS: one JSON object) runs on
the node Ray picks for the job (the head, unless told otherwise). The project arrives
as the job's working directory, which Ray deletes after the job; so it is copied first
into the project's own directory under the cluster's Pyoneer home
(``$PYONEER_CLUSTER_HOME``, else ``~/.pyoneer/cluster``), whose ``.pyoneer/`` keeps the
run's ledger and logs exactly as a local run keeps them, from one submission to the
next (``--resume`` reads it). The run itself is ``pyoneer.run`` with the Ray engine on
this cluster, told home as its stream (``broadcast``) on the job's output.

``python -m pyoneer.submission.driver send OPTIONS`` sends files of that directory
home (``pyoneer fetch``) as ``file`` lines.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

from pyoneer.errors import EXIT_INVALID, PyoneerError, UsageError
from pyoneer.submission.broadcast import PIECE, Broadcast
from pyoneer.submission.stream import as_text, line

#: where a cluster keeps its projects' directories, unless PYONEER_CLUSTER_HOME says
DEFAULT_HOME = Path("~/.pyoneer/cluster")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def project_home(key: str) -> Path:
    """The directory of the project ``key`` on this cluster."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise UsageError(f"not a project key: {key!r}")
    base = Path(os.environ.get("PYONEER_CLUSTER_HOME") or DEFAULT_HOME).expanduser()
    return base / key


def run(options: dict[str, Any], out: Any) -> int:
    """Copy the shipped project home, run it, tell it on ``out``; the run's exit code."""
    from pyoneer.blueprints.projectfile import read
    from pyoneer.engines.ray.engine import RayEngine
    from pyoneer.runner import run as run_project

    root = project_home(options["home"])
    broadcast = Broadcast(out, root)
    try:
        _check_ray(options.get("python"))
        _copy_here(Path.cwd(), root)
        found = read(root / options["path"], tuple(options["script_args"]), options["params"], options["sweep"])
        engine = RayEngine(announce=broadcast.say)  # this cluster: RAY_ADDRESS, as Ray sets it for a job
        result = run_project(
            found.project, options["workers"], resume=options["resume"], only=options["only"],
            rerun_from=options["from"], engine=engine, stop_on_signals=True, run_id=options["run_id"],
            follower=broadcast.follow,
        )
    except PyoneerError as exc:
        broadcast.fail(str(exc), exc.exit_code)
        return exc.exit_code
    except OSError as exc:
        broadcast.fail(f"on the cluster: {exc}", EXIT_INVALID)
        return EXIT_INVALID
    broadcast.end(result)
    return result.exit_code


def send(options: dict[str, Any], out: Any) -> int:
    """Send the files ``options["paths"]`` of the project's directory, piece by piece."""
    root = project_home(options["home"])
    number = 0
    for path in options["paths"]:
        file = (root / path).resolve()
        if not file.is_relative_to(root.resolve()):
            continue
        try:
            with file.open("rb") as source:
                at = 0
                while True:
                    data = source.read(PIECE)
                    number += 1
                    out.write(line(number, "file", path=path, at=at, data=as_text(data), last=len(data) < PIECE))
                    at += len(data)
                    if len(data) < PIECE:
                        break
        except OSError as exc:
            number += 1
            out.write(line(number, "missing", path=path, why=exc.strerror or str(exc)))
    out.write(line(number + 1, "end", code=0))
    out.flush()
    return 0


def _check_ray(named: str | None) -> None:
    """Refuse, saying which interpreter this is and who chose it, to run where Ray is not.

    The usual cause is the head's PATH: Ray was started from an environment that is not
    active where Ray's job server runs the entrypoint, so ``python`` is another one.
    """
    if importlib.util.find_spec("ray") is not None:
        return
    if named:
        chosen = f"the interpreter that --python or [engine] python named ({named})"
    else:
        chosen = "the `python` that the head's PATH chose"
    ray_python = _ray_python()
    example = ray_python or "/path/to/ray-env/bin/python"
    raise UsageError(
        f"the run's manager ran under {sys.executable} on the head, {chosen}, and Ray is not installed there\n"
        + (f"  Ray runs here under {ray_python}\n" if ray_python else "")
        + f"  hint: name the head's interpreter: pyoneer submit --python {example} "
        f"(or python = \"{example}\" in [engine] of pyoneer.toml), or install 'pyoneer[ray]' into {sys.executable}"
    )


def _ray_python() -> str | None:
    """The interpreter Ray's workers run under on this node, as the raylet starts them
    (unresolved: a virtual environment's ``python`` is a link to another): read from the
    raylet's command line, the job's ancestor; None where /proc cannot tell."""
    flag = b"--python_worker_command="
    pid = os.getppid()
    for _ in range(16):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        for word in argv:
            if word.startswith(flag) and word[len(flag):].split():
                return os.fsdecode(word[len(flag):].split()[0])
        if parent <= 1:
            return None
        pid = parent
    return None


def _copy_here(shipped: Path, root: Path) -> None:
    """The shipped files, over the project's directory (its records and outputs stay)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(shipped, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".pyoneer"))


def main(argv: list[str] | None = None) -> NoReturn:
    """``python -m pyoneer.submission.driver run|send OPTIONS``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("run", "send"):
        print("usage: python -m pyoneer.submission.driver run|send OPTIONS", file=sys.stderr)
        sys.exit(EXIT_INVALID)
    options = json.loads(args[1])
    code = (run if args[0] == "run" else send)(options, sys.stdout)
    sys.exit(code)  # Ray shuts its local processes down in its atexit handlers


if __name__ == "__main__":
    main()
