"""The booth's pages (aiohttp and jinja2) and its `ballot booth` commands."""
