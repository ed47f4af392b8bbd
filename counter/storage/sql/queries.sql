-- Named queries of counter/store.py. Each starts with a `-- name: NAME` line.

-- name: ensure_progress
INSERT INTO counter_progress (election_id, origin) VALUES ($1, $2)
ON CONFLICT (election_id) DO NOTHING

-- name: get_progress
SELECT election_id, origin, size, chain_head, root, checkpoint_size, checkpoint_root,
       checkpoint_note, stopped, updated_at
FROM counter_progress WHERE election_id = $1

-- name: list_progress
SELECT election_id, origin, size, chain_head, root, checkpoint_size, checkpoint_root,
       checkpoint_note, stopped, updated_at
FROM counter_progress ORDER BY election_id

-- name: advance
UPDATE counter_progress
SET size = $3, chain_head = $4, root = $5, checkpoint_size = $6, checkpoint_root = $7,
    checkpoint_note = $8, updated_at = now()
WHERE election_id = $1 AND size = $2

-- name: set_stopped
UPDATE counter_progress SET stopped = $2, updated_at = now() WHERE election_id = $1

-- name: mirror_from
SELECT idx, body, leaf_hash, chain_hash FROM counter_entries
WHERE election_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3

-- name: upsert_projection
INSERT INTO counter_projections (election_id, size, root, running)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (election_id) DO UPDATE
SET size = EXCLUDED.size, root = EXCLUDED.root, running = EXCLUDED.running, updated_at = now()

-- name: get_projection
SELECT size, root, running, updated_at FROM counter_projections WHERE election_id = $1

-- name: insert_result
INSERT INTO counter_results
    (election_id, contest_id, document, result_hash, counted_size, counted_root, blt)
VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
ON CONFLICT (election_id, contest_id) DO NOTHING

-- name: mark_declared
UPDATE counter_results SET declared = true, declared_index = $3
WHERE election_id = $1 AND contest_id = $2

-- name: get_results
SELECT contest_id, document::text AS document, result_hash, counted_size, counted_root,
       declared, declared_index
FROM counter_results WHERE election_id = $1 ORDER BY contest_id

-- name: get_blt
SELECT blt FROM counter_results WHERE election_id = $1 AND contest_id = $2

-- name: insert_alert
INSERT INTO counter_alerts (election_id, message, evidence) VALUES ($1, $2, $3::jsonb)

-- name: get_alerts
SELECT id, at, message, evidence::text AS evidence FROM counter_alerts
WHERE election_id = $1 ORDER BY id

-- name: trusted_keys
SELECT verifier FROM counter_trusted_keys ORDER BY added_at, verifier

-- name: trust_key
INSERT INTO counter_trusted_keys (verifier, source) VALUES ($1, $2)
ON CONFLICT (verifier) DO NOTHING
