"""The ledger's HTTP shell (aiohttp): routes, bearer-token auth, RFC 9457 problem details, serving.
Thin over ``ledger.service``."""
