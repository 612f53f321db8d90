"""What ``pyoneer submit``, ``attach``, ``stop`` and ``fetch`` do, on the user's machine.

Every answer comes from the cluster's job server (Ray's Jobs API, ``engines.ray.jobs``);
Pyoneer opens no port of its own. ``follow`` reads a submitted run's stream until its
end, through breaks of the network, and keeps the mirror up to date as it goes;
``refresh`` brings every unfinished submission's mirror up to date once (``status``,
``runs``, ``logs``), or says that the cluster cannot be reached and the mirror is what
is known.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pyoneer.engines.ray.jobs import ENDED, JobServer, runtime_env
from pyoneer.errors import ClusterError, MachineError, UsageError
from pyoneer.ledger import submissions
from pyoneer.ledger.store import Ledger
from pyoneer.ledger.submissions import Submission
from pyoneer.pyoneers.context import new_run_id
from pyoneer.status import RunState
from pyoneer.submission.mirror import Mirror
from pyoneer.submission.stream import PREFIX, Line, as_bytes, first_number, lines

#: seconds between two reads of a running run's stream
POLL = 1.0
#: lines of a job's output read from its end at first, and the most read that way
TAIL_LINES = 256
MAX_TAIL_LINES = 65536
#: seconds a stopped run's manager gets to end its tasks on every node before Ray kills it
STOP_WAIT = 60
#: seconds ``fetch`` waits for the cluster to send the files
FETCH_WAIT = 600

Say = Callable[[str], None]


def submit(root: Path, address: str, options: dict[str, Any]) -> Submission:
    """Send the project at ``root`` to the cluster's job server at ``address`` to run there;
    the submission, written down in the project's ledger."""
    server = JobServer(address)  # a wrong address or token is told before anything is sent
    run_id = new_run_id()
    with contextlib.closing(Ledger.open(root)) as ledger:
        home = submissions.home_of(ledger) or _new_home(root)
        given = {**options, "run_id": run_id, "home": home}
        entrypoint = f"{head_python(options)} -m pyoneer.submission.driver run " + shlex.quote(json.dumps(given))
        env = runtime_env(root, {
            "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT),
            # the manager ships the project to the nodes as a local run's does (its own
            # ray.init), from the project's directory on the cluster: not the job's copy
            "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
        })
        job = server.submit(entrypoint, f"pyoneer-{run_id}", env, {"pyoneer_run": run_id, "pyoneer_home": home})
        submission = Submission(job, run_id, server.address, home, time.time(), options)
        try:
            submissions.add(ledger, submission)
        except MachineError as exc:
            raise MachineError(exc.path, "write down the submission", f"{exc.cause}; the run was submitted "
                               f"all the same, as Ray job {job}", exc.hint) from exc
    return submission


def head_python(options: dict[str, Any]) -> str:
    """The head's interpreter for a submission's entrypoint, as a shell word: the one
    ``--python`` or ``[engine] python`` named, else whichever ``python`` the head's PATH finds."""
    return shlex.quote(options.get("python") or "python")


def _new_home(root: Path) -> str:
    """The project's directory on the cluster: its name and a few random letters."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.name).strip("-.") or "project"
    return f"{name[:60]}-{os.urandom(4).hex()}"


def output_after(server: JobServer, job: str, after: int) -> str:
    """The job's output, from at least the stream's line ``after + 1`` to its end.

    Read from its end, a window four times wider each time until it reaches back far
    enough, so a read costs what is new; the whole output where the cluster cannot
    give its end alone.
    """
    wanted = TAIL_LINES
    while wanted <= MAX_TAIL_LINES:
        text = server.tail(job, wanted)
        if text is None:
            break
        first = first_number(text)
        if text.count("\n") < wanted or (first is not None and first <= after + 1):
            return text  # all of it, or back to what was heard
        wanted *= 4
    return server.logs(job)


def follow(root: Path, run: str | None, say: Say, poll: float = POLL) -> Iterator[Line]:
    """Every line of the submitted run's stream, from its first, each once, until its end.

    The mirror takes each line as it comes. When the job server cannot be reached,
    ``say`` tells so, and it tries again until it can; a run whose job ended without
    the stream's end (its manager died with its head node) ends with a ``lost`` line.
    A ``caught-up`` line (numbered 0, as ``lost``) follows the lines the first read
    found: what the run had done before, told at once, so a late follower can tell it
    from what happens now.
    """
    with contextlib.closing(Ledger.open(root)) as ledger:
        submission = submissions.find(ledger, run)
        mirror = Mirror(root, ledger, submission)
        server: JobServer | None = None
        told, away, caught_up = 0, None, False
        while True:
            try:
                server = server or JobServer(submission.address)
                state = server.status(submission.id)  # first: logs read after an end are whole
                output = output_after(server, submission.id, min(told, mirror.heard))
            except ClusterError as exc:
                if away is None:
                    away = time.time()
                    say(f"lost touch with the cluster: {exc}".splitlines()[0] + "; trying again")
                server = None
                time.sleep(poll * 2)
                continue
            if away is not None:
                say(f"back in touch with the cluster after {time.time() - away:.0f} s")
                away = None
            ended = state is None or state in ENDED
            found = list(lines(output, min(told, mirror.heard)))
            mirror.take(found, ended)
            for line in sorted(found, key=lambda line: line.number):
                if line.number > told and (line.number == told + 1 or ended):
                    told = line.number
                    yield line
                    if line.kind in ("end", "error"):
                        submissions.note_state(ledger, submission.id, state or "LOST")
                        return
            if not caught_up:
                caught_up = True
                yield Line(0, {"k": "caught-up"})
            if ended:
                submissions.note_state(ledger, submission.id, state or "LOST")
                yield Line(0, {"k": "lost", "text": _lost(ledger, submission, state, output)})
                return
            time.sleep(poll)


def _lost(ledger: Ledger, submission: Submission, state: str | None, output: str = "") -> str:
    """Write the run down as lost (its manager is gone without telling its end); why."""
    began = {known.id: known.result for known in ledger.runs()}.get(submission.run_id)
    if state is None:
        why = f"the cluster at {submission.address} no longer knows Ray job {submission.id} (its head restarted?)"
    elif began is None:
        why = f"Ray job {submission.id} ended {state} before the run began"
        said = [text for text in output.splitlines()
                if text.strip() and not text.startswith((PREFIX, "Running entrypoint for job"))]
        if said:  # what the entrypoint's shell or interpreter said (a --python that is not one)
            why += f": {said[-1].strip()[:300]}"
        if submission.options.get("python"):
            why += f" (is {submission.options['python']}, named by --python or [engine] python, an interpreter there?)"
    else:
        why = f"Ray job {submission.id} ended {state} before the run did (its manager died)"
    if began is RunState.RUNNING:
        submissions.mark_lost(ledger, submission.run_id, why)
    return why


def refresh(root: Path, say: Say) -> None:
    """Bring the mirror of every submitted run not known to have ended up to date, once."""
    with contextlib.closing(Ledger.open(root)) as ledger:
        open_ones = [item for item in submissions.listed(ledger) if item.state not in ENDED | {"LOST"}]
        servers: dict[str, JobServer] = {}
        for submission in open_ones:
            try:
                server = servers.get(submission.address) or servers.setdefault(
                    submission.address, JobServer(submission.address))
                state = server.status(submission.id)
                output = output_after(server, submission.id, submission.heard)
            except ClusterError as exc:
                heard = time.strftime("%H:%M:%S", time.localtime(submission.asked)) if submission.asked else "never"
                say(f"note: {str(exc).splitlines()[0]}\n  run {submission.run_id} is shown as its mirror here "
                    f"has it (last heard from the cluster: {heard})")
                continue
            ended = state is None or state in ENDED
            Mirror(root, ledger, submission).take(lines(output, submission.heard), ended)
            if ended:  # a run whose end the stream told is ended by now: only one left running is lost
                _lost(ledger, submission, state)
            submissions.note_state(ledger, submission.id, state or "LOST")


def has_open_submissions(root: Path) -> bool:
    """True when the project has submitted runs whose end its mirror has not heard (cheap)."""
    import sqlite3

    from pyoneer.ledger.store import ledger_path

    path = ledger_path(root)
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            marks = ", ".join("?" for _ in (*ENDED, "LOST"))
            row = db.execute(f"SELECT COUNT(*) FROM submissions WHERE state IS NULL OR state NOT IN ({marks})",
                             (*ENDED, "LOST")).fetchone()
    except sqlite3.Error:
        return False  # an older ledger (no submissions), or not one: the reading command says
    return bool(row and row[0])


def stop(root: Path, run: str | None, say: Say) -> str:
    """Stop the submitted run on the cluster (its tasks end on every node); how it ended."""
    with contextlib.closing(Ledger.open(root)) as ledger:
        submission = submissions.find(ledger, run)
    server = JobServer(submission.address)
    if not server.stop(submission.id):
        say(f"run {submission.run_id} had already ended on the cluster")
    for line in follow(root, submission.run_id, say):
        if line.kind == "end":
            return "interrupted" if line.data["result"]["interrupted"] else f"ended (exit code {line.data['code']})"
        if line.kind == "lost":
            return "stopped before it began" if "before the run began" in line.data["text"] else "lost"
        if line.kind == "error":
            return "did not start"
    return "stopped"


def fetch(root: Path, run: str | None, say: Say) -> list[str]:
    """Bring the submitted run's declared outputs home, into the project; the paths written."""
    with contextlib.suppress(ClusterError):
        refresh(root, lambda _text: None)  # the outputs the mirror knows of, up to date
    with contextlib.closing(Ledger.open(root)) as ledger:
        submission = submissions.find(ledger, run)
        wanted = submissions.outputs(ledger, submission.run_id)
    if not wanted:
        say(f"run {submission.run_id} has no declared outputs of succeeded jobs to bring home (yet)")
        return []
    server = JobServer(submission.address)
    given = {"home": submission.home, "paths": sorted(wanted)}
    entrypoint = f"{head_python(submission.options)} -m pyoneer.submission.driver send " + shlex.quote(json.dumps(given))
    job = server.submit(entrypoint,
                        f"pyoneer-fetch-{new_run_id()}", runtime_env(None, {}), {"pyoneer_fetch": submission.run_id})
    deadline = time.monotonic() + FETCH_WAIT
    while (state := server.status(job)) not in ENDED:
        if time.monotonic() > deadline:
            server.stop(job)
            raise ClusterError(f"the cluster did not send the outputs within {FETCH_WAIT} s (Ray job {job}: {state})")
        time.sleep(0.5)
    return _write_home(root, list(lines(server.logs(job))), wanted, state)


def _write_home(root: Path, found: list[Line], wanted: dict[str, list[Any]], state: str) -> list[str]:
    """Write the files the cluster sent, each whole and as it was recorded, or none of it."""
    pieces: dict[str, list[bytes]] = {}
    for line in found:
        if line.kind == "file":
            pieces.setdefault(line.data["path"], []).append(as_bytes(line.data["data"]))
        elif line.kind == "missing":
            raise ClusterError(f"the cluster no longer has {line.data['path']}: {line.data['why']}; nothing was written")
    if not any(line.kind == "end" for line in found):
        raise ClusterError(f"the cluster's answer was cut short (its Ray job ended {state}); nothing was written")
    written = []
    for path, chunks in sorted(pieces.items()):
        data = b"".join(chunks)
        size, mtime_ns, sha256 = wanted[path]
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise ClusterError(f"{path} on the cluster is not what its job left (changed since?); nothing more written")
        target = root / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.pyoneer-fetch")
            partial.write_bytes(data)
            os.utime(partial, ns=(mtime_ns, mtime_ns))  # as the run left it: --resume sees it unchanged
            os.replace(partial, target)
        except OSError as exc:
            raise MachineError.from_os(exc, "write a fetched output", target) from exc
        written.append(path)
    return written


def remembered_address(root: Path) -> str | None:
    """The job server the project's latest run was submitted to, if any."""
    from pyoneer.ledger.store import ledger_path

    if not ledger_path(root).exists():
        return None
    with contextlib.closing(Ledger.open(root)) as ledger:
        known = submissions.listed(ledger)
    return known[-1].address if known else None


def check_address(address: str | None) -> str:
    """The job server's address, or a clear refusal."""
    if not address:
        raise UsageError("pyoneer submit needs the cluster's job server: --address http://HEAD:8265 "
                         "(or [engine] address, or RAY_ADDRESS; later submissions remember it)")
    return address
