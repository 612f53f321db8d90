"""``pyoneer attach`` of a submitted run, watched line by line while its tasks wait.

The scripts of these tests print a line, then wait for a file (``GO``); a test makes it
once its attaches have shown what they should by then, so what the tasks print after
it is seen live, never as a late attach's replay.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import IO

#: a task of these tests: says it waits, waits for $GO, warns (on stderr), prints three lines
WAITER = """
import os, sys, time
name = sys.argv[1]
print(f"{name}: waiting", flush=True)
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.1)
print(f"{name}: a warning", file=sys.stderr, flush=True)
for number in range(3):
    print(f"{name}: line {number}", flush=True)
"""


class Attaching:
    """One ``pyoneer attach`` in a child process, its output collected as it comes."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self._child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       errors="replace", env=env)
        self._lines: list[str] = []
        self._errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(self._child.stdout, self._lines), daemon=True),
                         threading.Thread(target=self._read, args=(self._child.stderr, self._errors), daemon=True)]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def output(self) -> str:
        """What it printed on stdout so far."""
        return "".join(self._lines)

    def wait_for(self, text: str, timeout: float = 240) -> None:
        """Until it has printed ``text`` (an assertion error with its output if not)."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline and self._child.poll() is None, f"no {text!r} in:\n{self.output}"
            time.sleep(0.1)

    def end(self, timeout: float = 240) -> tuple[int | None, str, str]:
        """Its exit code (None: it did not end in time, and was killed), stdout and stderr."""
        try:
            self._child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        return self._child.returncode, self.output, "".join(self._errors)
