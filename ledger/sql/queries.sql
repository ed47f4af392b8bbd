-- Named queries of ledger/store.py. Each starts with a `-- name: NAME` line.

-- name: create_log
INSERT INTO logs (election_id, origin) VALUES ($1, $2)

-- name: get_head
SELECT election_id, origin, size, chain_head, root FROM logs WHERE election_id = $1

-- name: lock_head
SELECT election_id, origin, size, chain_head, root FROM logs WHERE election_id = $1 FOR UPDATE

-- name: update_head
UPDATE logs SET size = $2, chain_head = $3, root = $4, updated_at = now() WHERE election_id = $1

-- name: get_nodes
SELECT n.level, n.idx, n.hash
FROM tree_nodes n
JOIN unnest($2::smallint[], $3::bigint[]) AS want(level, idx)
  ON n.level = want.level AND n.idx = want.idx
WHERE n.election_id = $1

-- name: entries_from
SELECT idx, kind, body, leaf_hash, chain_hash
FROM entries WHERE election_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3

-- name: entry_by_leaf_prefix
SELECT idx, kind, body, leaf_hash, chain_hash
FROM entries WHERE election_id = $1 AND leaf_hash >= $2 AND leaf_hash < $3
ORDER BY leaf_hash LIMIT 2

-- name: insert_checkpoint
INSERT INTO checkpoints (election_id, size, root, note, reason) VALUES ($1, $2, $3, $4, $5)

-- name: checkpoint_at
SELECT size, root, note, reason, created_at FROM checkpoints WHERE election_id = $1 AND size = $2

-- name: latest_checkpoint
SELECT size, root, note, reason, created_at FROM checkpoints
WHERE election_id = $1 ORDER BY size DESC LIMIT 1
