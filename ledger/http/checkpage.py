"""The public receipt check page and the CORS header that lets it read the ledger from anywhere.

The page (``static/check.html`` with its script and style sheet) is static: the voter's browser
fetches the entry, proofs and checkpoints from the public API and verifies them itself
(docs/log-format.md; ``static/check-verify.js``). The same files work when saved to disk and
opened from a ``file://`` URL, or served by anyone else: so the public reads carry
``Access-Control-Allow-Origin: *``. Only reads (GET and HEAD) do: a write (PUT, POST) never
carries it, and a preflight (OPTIONS) is refused, so a page elsewhere can read what anyone may
read and write nothing, even with a token it holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
FILES = {
    "/check": ("check.html", "text/html"),
    "/check.js": ("check.js", "text/javascript"),
    "/check-verify.js": ("check-verify.js", "text/javascript"),
    "/check.css": ("check.css", "text/css"),
}
"""URL path -> (file under ``static/``, content type). The page refers to its assets by
relative URLs, which resolve to these from ``/check`` and to the saved files from ``file://``."""

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src * blob:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""The page's Content-Security-Policy: its own script and style only; fetches to any ledger
(the voter may check against another address), and its own evidence files (blob:)."""

PUBLIC_READS = frozenset(("GET", "HEAD"))


def static_file(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering with one file of ``static/`` (read once, at start)."""
    body = (STATIC / name).read_bytes()
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if content_type == "text/html":
        headers["Content-Security-Policy"] = PAGE_POLICY

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)

    return handler


async def allow_public_reads(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: any origin may read a GET or HEAD answer (errors and streams
    too, so that a page elsewhere can tell a 404 from a network failure)."""
    if request.method in PUBLIC_READS:
        response.headers["Access-Control-Allow-Origin"] = "*"


def add_check_page(app: web.Application) -> None:
    """Serve the check page and its assets, and open the public reads to every origin."""
    for path, (name, content_type) in FILES.items():
        app.router.add_get(path, static_file(name, content_type))
    app.on_response_prepare.append(allow_public_reads)
