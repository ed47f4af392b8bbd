"""Container health check: exit 0 if GET /healthz answers 2xx, 1 otherwise.

The image has no curl, so this uses the standard library only. The URL is the first argument,
else ``BALLOT_HEALTHCHECK_URL``, else ``/healthz`` on the loopback interface at the port of the
service the container runs: the counter's (``BALLOT_COUNTER_PORT``) when its main process is
``ballot counter serve``, the ledger's (``BALLOT_PORT``) otherwise.
"""

from __future__ import annotations

import itertools
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def runs_counter(cmdline: Path = Path("/proc/1/cmdline")) -> bool:
    """Whether the container's main process is ``ballot counter serve``."""
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a == b"counter" and b == b"serve" for a, b in itertools.pairwise(args))


def url() -> str:
    if len(sys.argv) > 1:
        return sys.argv[1]
    if "BALLOT_HEALTHCHECK_URL" in os.environ:
        return os.environ["BALLOT_HEALTHCHECK_URL"]
    if runs_counter():
        port = os.environ.get("BALLOT_COUNTER_PORT", "8090")
    else:
        port = os.environ.get("BALLOT_PORT", "8080")
    return f"http://127.0.0.1:{port}/healthz"


def main() -> int:
    target = url()
    if not target.startswith(("http://", "https://")):
        print(f"healthcheck: not an http(s) URL: {target}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(target, timeout=3) as response:  # noqa: S310 (checked above)
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {target}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
