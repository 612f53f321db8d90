"""The commands of submitted runs: ``submit``, ``attach``, ``stop``, ``fetch``.

They say what happens in words and exit codes; ``pyoneer.submission.remote`` does it.
``attach`` shows a submitted run in the same view as ``pyoneer run`` shows a local one,
from the run's own events as its stream tells them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoneer.cli.display import Display, open_view
from pyoneer.cli.echo import echo
from pyoneer.errors import EXIT_FAILED, UsageError

if TYPE_CHECKING:
    from pyoneer.cli.attached import AttachedOutput


def _say(text: str) -> None:
    echo(text, err=True)


def submit(path: Path, script_args: tuple[str, ...], address: str | None, options: dict[str, Any],
           params: dict[str, object], sweep: dict[str, list[str]], python: str | None = None) -> int:
    """Check the project here, send it to the cluster, and print how to follow it.

    ``python``: the head's interpreter for the run's manager (else ``[engine] python``,
    else whichever ``python`` the head's PATH finds there)."""
    import os

    from pyoneer.blueprints.projectfile import read
    from pyoneer.submission import remote

    found = read(path, script_args, params, sweep)  # refused here, before anything travels
    root = found.project.root
    address = remote.check_address(
        address or found.engine.address or os.environ.get("RAY_ADDRESS") or remote.remembered_address(root)
    )
    file = path.resolve()
    given = {
        "path": "." if file == root else file.relative_to(root).as_posix(),
        "script_args": list(script_args), "params": params, "sweep": sweep, **options,
        "python": python or found.engine.python or None,
    }
    submission = remote.submit(root, address, given)
    elsewhere = Path(path) != Path(".")
    echo(f"submitted run {submission.run_id} to {submission.address} (Ray job {submission.id})")
    echo("  follow it:   pyoneer attach" + (f" --path {root}" if elsewhere else ""))
    echo("  its state:   pyoneer status" + (f" {root}" if elsewhere else ""))
    echo("  stop it:     pyoneer stop" + (f" --path {root}" if elsewhere else ""))
    echo("  its outputs: pyoneer fetch" + (f" --path {root}" if elsewhere else ""))
    return 0


def attach(root: Path, run_id: str | None, quiet: bool = False) -> int:
    """Follow a submitted run to its end, in the view of ``pyoneer run``; its exit code.

    Its tasks' output is shown as ``pyoneer run`` shows it (``pyoneer.cli.attached``),
    from their logs as the mirror writes them; ``quiet``: status lines only."""
    from pyoneer.submission import remote

    attached = _Attached(root, quiet)
    try:
        for line in remote.follow(root, run_id, _say):
            code = attached.take(line.kind, line.data)
            if code is not None:
                return code
    except KeyboardInterrupt:
        _say("detached: the run goes on on the cluster (pyoneer attach follows it again)")
        return 0
    finally:
        attached.close()
    return EXIT_FAILED


class _Attached:
    """What ``attach`` shows of a submitted run, one line of its stream at a time."""

    def __init__(self, root: Path, quiet: bool) -> None:
        self._root = root
        self._quiet = quiet
        self._display: Display | None = None
        self._output: AttachedOutput | None = None
        self._jobs: list[str] = []
        self._caught_up = False  # what the run had done before attach has been told

    def take(self, kind: str, data: dict[str, Any]) -> int | None:
        """Show one line of the stream; the run's exit code once it has ended."""
        from pyoneer.pyoneers.events import RunStarted
        from pyoneer.pyoneers.wire import event_from_wire, result_from_wire

        if kind == "run":
            from pyoneer.cli.attached import AttachedOutput

            self._display = open_view(data["project"], data["jobs"])
            self._jobs = list(data["jobs"])
            self._output = None if self._quiet else AttachedOutput(self._display, self._display.say)
            if self._output is not None and self._caught_up:  # attached before the run began
                self._output.caught_up()
        elif kind == "event" and self._display is not None:
            event = event_from_wire(data["event"], self._root)
            if self._output is not None:  # first, as for pyoneer run: an attempt's last lines before its end's
                if isinstance(event, RunStarted):
                    self._output.outline(event.run_id, self._jobs, event.reused)
                self._output.notify(event)
            self._display.notify(event)
            self._display.settle()
        elif kind == "caught-up":
            self._caught_up = True
            if self._output is not None:
                self._output.caught_up()
        elif kind == "say":
            (self._display.say if self._display is not None else _say)(data["text"])
        elif kind == "end":
            result = result_from_wire(data["result"], self._root)
            self.close()
            if self._display is not None:
                self._display.summary(result)
                self._display = None
            return int(data["code"])
        elif kind == "error":
            _say(f"error: {data['text']}")
            return int(data["code"])
        elif kind == "lost":
            _say(f"error: the run was lost: {data['text']}")
            return EXIT_FAILED
        return None

    def close(self) -> None:
        """Every line of the tasks shown, then the view stops redrawing."""
        if self._output is not None:
            self._output.close()
            self._output = None
        if self._display is not None:
            self._display.close()


def stop(root: Path, run_id: str | None) -> int:
    """Stop a submitted run: its tasks end on every node; it is marked interrupted."""
    from pyoneer.submission import remote

    how = remote.stop(root, run_id, _say)
    echo(f"the run ended: {how}")
    return 0


def fetch(root: Path, run_id: str | None) -> int:
    """Bring a submitted run's declared outputs home into the project."""
    from pyoneer.submission import remote

    written = remote.fetch(root, run_id, _say)
    for path in written:
        echo(f"  {path}")
    echo(f"fetched {len(written)} file{'s' if len(written) != 1 else ''} into {root}")
    return 0


def refresh(root: Path) -> None:
    """Bring the mirrors of the project's unfinished submitted runs up to date (if any)."""
    from pyoneer.submission import remote

    if remote.has_open_submissions(root):
        remote.refresh(root, _say)


@contextlib.contextmanager
def keeping_up(root: Path) -> Iterator[None]:
    """While inside, the mirrors of unfinished submitted runs are brought up to date every
    second (``logs -f`` of a submitted run follows the mirror as it grows)."""
    from pyoneer.errors import PyoneerError
    from pyoneer.submission import remote

    if not remote.has_open_submissions(root):
        yield
        return
    done = threading.Event()
    told: set[str] = set()

    def once(text: str) -> None:  # a cluster out of reach is told once, not every second
        if text not in told:
            told.add(text)
            _say(text)

    def keep_up() -> None:
        while not done.wait(remote.POLL):
            with contextlib.suppress(PyoneerError):
                remote.refresh(root, once)

    thread = threading.Thread(target=keep_up, name="pyoneer-mirror", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def need_project(path: Path) -> Path:
    """The project directory that ``--path`` names."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    return (path if path.is_dir() else path.parent).resolve()
