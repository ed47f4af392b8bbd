"""`ballot demo`: the main job on the embedded database.

For now a smoke scenario of the log core: start (or reuse) the embedded PostgreSQL, create a
demo database and an election log, append a few entries in two batches, sign a checkpoint after
each, then verify everything from the stored bytes alone, as an auditor would.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console

from ledger import merkle
from ledger.chain import GENESIS, chain_next
from ledger.checkpoint import open_checkpoint
from ledger.embedded import embedded_cluster
from ledger.entry import parse_entry, template
from ledger.keys import Keyring, Signer
from ledger.receipts import sign_receipt, verify_receipt
from ledger.store import LogStore, migrate

console = Console(soft_wrap=True)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on an embedded PostgreSQL")
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="demo state folder")
    p.set_defaults(func=run)


async def _scenario(admin_url: str, key_dir: Path) -> int:
    signer = Signer.load_or_create(key_dir / "ledger.key", "ballot-ledger.demo/ledger")
    keyring = Keyring([signer.verifier])
    db_name = f"ballot_demo_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    await admin.close()
    conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + "/" + db_name)
    try:
        applied = await migrate(conn)
        console.print(f"[bold]database[/] {db_name}: migrations {', '.join(applied)}")
        store = LogStore()
        election = "demo-2026"
        head = await store.create_log(conn, election, f"ballot-ledger.demo/elections/{election}")
        batches: list[list[dict[str, Any]]] = [
            [{"note": "election defined"}, {"note": "roll published"}],
            [{"n": i} for i in range(5)],
        ]
        notes = []
        for batch in batches:
            async with conn.transaction():
                appended = await store.append(
                    conn, election, [template(election, "demo_event", e) for e in batch]
                )
            last = appended[-1]
            receipt = sign_receipt(
                signer,
                election=election,
                index=last.index,
                leaf_hash=last.leaf_hash,
                chain_hash=last.chain_hash,
            )
            verify_receipt(receipt, keyring)
            signed = await store.checkpoint(conn, election, [signer], reason="demo")
            notes.append(signed)
            console.print(f"appended {len(appended)} entries; receipt {receipt.code}")
        # Verify from the stored bytes alone.
        stored = await store.entries(conn, election, 0, 1000)
        tree = merkle.MemoryTree()
        chain = GENESIS
        for e in stored:
            entry = parse_entry(e.body)
            if entry.index != e.index or entry.election != election:
                console.print(f"[red]entry {e.index} is not at its place[/]")
                return 1
            leaf = merkle.leaf_hash(e.body)
            chain = chain_next(chain, leaf)
            if leaf != e.leaf_hash or chain != e.chain_hash:
                console.print(f"[red]entry {e.index} does not verify[/]")
                return 1
            tree.append(leaf)
        for signed in notes:
            cp = open_checkpoint(signed.note, keyring, origin=head.origin)
            if tree.root(cp.size) != cp.root:
                console.print(f"[red]checkpoint at {cp.size} does not match the entries[/]")
                return 1
        first, last_cp = notes[0].checkpoint, notes[-1].checkpoint
        proof = await store.consistency_proof(conn, election, first.size, last_cp.size)
        merkle.verify_consistency(first.size, last_cp.size, first.root, last_cp.root, proof)
        incl = await store.inclusion_proof(conn, election, 3, last_cp.size)
        merkle.verify_inclusion(3, last_cp.size, stored[3].leaf_hash, incl, last_cp.root)
        console.print("\n[bold]latest checkpoint[/] (C2SP signed note):")
        console.print(notes[-1].note, markup=False, highlight=False, soft_wrap=True)
        console.print(
            f"[green]verified[/]: {len(stored)} entries, chain, 2 checkpoints, "
            f"consistency {first.size}->{last_cp.size}, inclusion of entry 3"
        )
        console.print(f"ledger key: {signer.verifier.text()}")
        return 0
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    with embedded_cluster(data_dir / "postgres") as cluster:
        console.print(f"[bold]PostgreSQL[/] {cluster.bin_dir} on port {cluster.port}")
        return asyncio.run(_scenario(cluster.admin_url, data_dir / "keys"))
