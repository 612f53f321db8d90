"""Ray's job server (the Ray Jobs API): where a submitted run's manager is sent to run.

The one place that talks to it, through Ray's own ``JobSubmissionClient`` (plain HTTP
with Ray's bearer token, from ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``); Ray's
errors become ``ClusterError`` (cannot reach it, it refused) and ``UsageError`` (no
or a wrong token). What travels with a submission is what the Ray engine ships: the
project directory, less what ``.gitignore``/``.pyoneerignore`` keep home, and Pyoneer.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyoneer.errors import ClusterError, UsageError
from pyoneer.engines.ray.shipping import PACKAGE, Shipment, pack_list

#: seconds to wait for the job server to take a connection
CONNECT_TIMEOUT = 10.0
#: Ray's words for a job that has ended
ENDED = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


def http_address(address: str) -> str:
    """The job server's address as Ray's client takes it: ``HOST:8265`` means http://."""
    return address if "://" in address else f"http://{address}"


class JobServer:
    """A connection to the job server at ``address`` (``http://HEAD:8265``)."""

    def __init__(self, address: str) -> None:
        self.address = http_address(address)
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise UsageError("submitted runs need Ray's job client: pip install 'pyoneer[ray]'") from None
        import logging

        # Ray's client tells each upload at INFO, on the user's terminal
        for name in ("ray", "ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
            logging.getLogger(name).setLevel(logging.WARNING)
        with self._said("connect to"):
            self._client = JobSubmissionClient(self.address)
        #: each job's driver node, as the state API wants it; whether that API answers
        self._drivers: dict[str, str] = {}
        self._no_tail = False

    @contextlib.contextmanager
    def _said(self, doing: str) -> Iterator[None]:
        """The boundary: what Ray raises becomes Pyoneer's error, naming the job server."""
        from ray.exceptions import AuthenticationError

        self._reachable(doing)
        try:
            yield
        except AuthenticationError as exc:
            first = str(exc).strip().splitlines()[0]
            raise UsageError(
                f"the Ray cluster at {self.address} refused the token: {first}\n"
                "  hint: set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH)"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise ClusterError(
                f"cannot {doing} the Ray job server at {self.address}: {_first_line(exc)}\n"
                "  hint: is the head node up, and is this its dashboard address (default port 8265)?"
            ) from None
        except Exception as exc:  # noqa: BLE001 - Ray's client raises RuntimeError for HTTP errors
            if "does not exist" in str(exc):
                raise LookupError(str(exc)) from None
            raise ClusterError(f"cannot {doing} the Ray job server at {self.address}: {_first_line(exc)}") from None

    def _reachable(self, doing: str) -> None:
        """Refuse within seconds a job server that does not answer at all: Ray's client
        waits without a limit (a head that is off, or a network that drops packets)."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.address)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname or "", port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise ClusterError(
                f"cannot {doing} the Ray job server at {self.address}: {exc.strerror or exc}\n"
                "  hint: is the head node up, and is this its dashboard address (default port 8265)?"
            ) from None

    def submit(self, entrypoint: str, submission_id: str, runtime_env: dict[str, Any], metadata: dict[str, str]) -> str:
        """Submit a Ray job; its submission id."""
        with self._said("submit the run to"):
            return self._client.submit_job(
                entrypoint=entrypoint, submission_id=submission_id, runtime_env=runtime_env, metadata=metadata
            )

    def status(self, submission_id: str) -> str | None:
        """The Ray job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED); None if the
        cluster does not know it (its head restarted since)."""
        try:
            with self._said("ask about the run at"):
                return str(self._client.get_job_status(submission_id).value)
        except LookupError:
            return None

    def logs(self, submission_id: str) -> str:
        """Everything the Ray job's entrypoint has printed so far."""
        try:
            with self._said("read the run's stream from"):
                return self._client.get_job_logs(submission_id)
        except LookupError:
            return ""

    def tail(self, submission_id: str, lines: int) -> str | None:
        """The last ``lines`` lines the Ray job's entrypoint printed, through the state
        API's log endpoint of the same server (a read that costs what it returns: Ray's
        client reads a job's output only whole); None where the cluster cannot say."""
        if self._no_tail:
            return None
        node = self._drivers.get(submission_id)
        if node is None:
            with self._said("ask about the run at"):
                node = self._drivers[submission_id] = self._client.get_job_info(submission_id).driver_node_id or ""
        if not node:
            return None  # not started yet
        request = getattr(self._client, "_do_request", None)  # a Ray without it: read whole
        with self._said("read the run's stream from"):
            # the request as Ray's client makes its own (its address, its token)
            answer = request and request(  # /api/v0/logs has no method of Ray's client
                "GET", "/api/v0/logs/file",
                params={"submission_id": submission_id, "node_id": node, "lines": lines, "timeout": 30},
            )
        if getattr(answer, "status_code", None) != 200:
            self._no_tail = True  # an older Ray, or a log it cannot find: read it whole
            return None
        return answer.content.decode("utf-8", "replace")

    def stop(self, submission_id: str) -> bool:
        """Ask the Ray job to stop (SIGTERM to the entrypoint); False if it had ended."""
        with self._said("stop the run at"):
            return bool(self._client.stop_job(submission_id))


def runtime_env(root: Path | None, env_vars: dict[str, str]) -> dict[str, Any]:
    """What a submission takes along: the project at ``root`` (none: Pyoneer alone), Pyoneer."""
    env: dict[str, Any] = {"py_modules": [str(PACKAGE)], "env_vars": env_vars}
    if root is not None:
        shipment = shipment_of(root)
        env["working_dir"] = str(root)
        env["excludes"] = list(shipment.excludes)
    return env


def shipment_of(root: Path) -> Shipment:
    """What of the project travels, refused if past what Ray takes."""
    from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE

    shipment = pack_list(root)
    shipment.check_limit(GCS_STORAGE_MAX_SIZE)
    return shipment


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
