-- Named queries of the booth's store (booth/storage/store.py).

-- name: issue
-- A member's first code; a member who already has one keeps it (nothing is returned).
INSERT INTO booth_members (election_id, voter_id, attributes, code_hash)
VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (election_id, voter_id) DO NOTHING
RETURNING voter_id;

-- name: reissue
-- A new code for a member: the old hash is replaced, so the old code no longer signs in.
UPDATE booth_members SET code_hash = $3, issued_at = date_trunc('minute', now())
WHERE election_id = $1 AND voter_id = $2
RETURNING voter_id;

-- name: by_code
SELECT election_id, voter_id, attributes, code_hash, voted_on
FROM booth_members WHERE code_hash = $1;

-- name: member
SELECT election_id, voter_id, attributes, code_hash, voted_on
FROM booth_members WHERE election_id = $1 AND voter_id = $2;

-- name: mark_voted
-- Once only: a second call leaves the first minute and returns nothing.
UPDATE booth_members SET voted_on = date_trunc('minute', now())
WHERE election_id = $1 AND voter_id = $2 AND voted_on IS NULL
RETURNING voted_on;
