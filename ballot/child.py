"""``ballot <args>`` as a child process (the demo's and the benches' ledger and counter)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from ledger.errors import CliError
from ledger.runtime.embedded import free_port


@dataclass
class Service:
    """A ``ballot`` service as a child process, its output in ``log``; ready on ``/readyz``."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = field(default_factory=free_port)
    """The private metrics listener's port (``BALLOT_METRICS_PORT``, the counter's
    ``BALLOT_COUNTER_METRICS_PORT``): a free one, so that several services can run at once."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 30.0) -> None:
        """Start it and wait until ``/readyz`` answers 200 (CliError if it exits or is not
        ready ``within`` seconds)."""
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; readiness below
                [sys.executable, "-m", "ballot.cli", *self.args],
                env={
                    **os.environ,
                    "BALLOT_METRICS_PORT": str(self.metrics_port),
                    "BALLOT_COUNTER_METRICS_PORT": str(self.metrics_port),
                    **self.env,
                },
                stdout=fh,
                stderr=fh,
            )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise CliError(f"the {self.name} exited at start; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise CliError(f"the {self.name} did not become ready; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
