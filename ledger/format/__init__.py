"""The log format, pure: canonical entries, hashes, the chain, Merkle proofs, keys, checkpoints,
receipts, the export file and its fast verifier. No I/O beyond reading files; no aiohttp, asyncpg or
store. What an outside verifier, the counter and the receipt check need, and nothing else."""
