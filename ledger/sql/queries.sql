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

-- name: state_events
SELECT idx, body FROM entries
WHERE election_id = $1 AND kind NOT IN ('ballot_cast', 'ballot_opened', 'turnout_reported')
ORDER BY idx

-- name: election_row
SELECT election_id, phase, version, sealed, poll_close, roll_salt FROM elections
WHERE election_id = $1

-- name: insert_election
INSERT INTO elections (election_id, phase, version, sealed, poll_close)
VALUES ($1, $2, 1, $3, $4)

-- name: update_election
UPDATE elections SET phase = $2, version = version + 1, sealed = $3, poll_close = $4,
    updated_at = now()
WHERE election_id = $1
RETURNING version

-- name: set_roll_salt
UPDATE elections SET roll_salt = $2 WHERE election_id = $1

-- name: list_elections
SELECT e.election_id, e.phase, l.size, l.origin FROM elections e
JOIN logs l USING (election_id) ORDER BY e.election_id

-- name: existing_submissions
SELECT submission_id, request_mac, response FROM submissions
WHERE election_id = $1 AND submission_id = ANY($2::text[])

-- name: roll_attributes
SELECT voter_id, attributes FROM roll WHERE election_id = $1 AND voter_id = ANY($2::text[])

-- name: voted_contests
SELECT contest_id, voter_id FROM participation
WHERE election_id = $1 AND voter_id = ANY($2::text[])

-- name: delete_roll
DELETE FROM roll WHERE election_id = $1

-- name: unopened_ballots
SELECT s.cast_index, s.contest_id, s.selections, s.salt
FROM sealed_ballots s
LEFT JOIN openings o ON o.election_id = s.election_id AND o.cast_index = s.cast_index
WHERE s.election_id = $1 AND o.cast_index IS NULL
ORDER BY s.cast_index
LIMIT $2

-- name: count_unopened
SELECT count(*) FROM sealed_ballots s
LEFT JOIN openings o ON o.election_id = s.election_id AND o.cast_index = s.cast_index
WHERE s.election_id = $1 AND o.cast_index IS NULL

-- name: turnout_by_contest
SELECT contest_id, count(*) AS n FROM participation WHERE election_id = $1 GROUP BY contest_id

-- name: turnout_by_dimension
SELECT p.contest_id, r.attributes ->> $2::text AS value, count(*) AS n
FROM participation p
JOIN roll r ON r.election_id = p.election_id AND r.voter_id = p.voter_id
WHERE p.election_id = $1
GROUP BY 1, 2

-- name: due_to_close
SELECT election_id FROM elections WHERE phase = 'poll_open' AND poll_close <= now()

-- name: closing_unfinished
SELECT e.election_id FROM elections e WHERE e.phase = 'poll_closed' AND e.sealed
  AND EXISTS (
    SELECT 1 FROM sealed_ballots s
    LEFT JOIN openings o ON o.election_id = s.election_id AND o.cast_index = s.cast_index
    WHERE s.election_id = e.election_id AND o.cast_index IS NULL)

-- name: checkpoint_sizes
SELECT size FROM checkpoints WHERE election_id = $1 ORDER BY size

-- name: needs_checkpoint
SELECT l.election_id FROM logs l
WHERE l.size > COALESCE((SELECT max(size) FROM checkpoints c WHERE c.election_id = l.election_id), 0)

-- name: checkpoint_notes
SELECT size, note FROM checkpoints WHERE election_id = $1 AND size <= $2 ORDER BY size
