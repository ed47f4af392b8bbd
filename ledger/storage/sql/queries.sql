-- Named queries of ledger/store.py. Each starts with a `-- name: NAME` line.

-- name: create_log
INSERT INTO logs (election_id, origin) VALUES ($1, $2)

-- name: get_head
SELECT election_id, origin, size, chain_head, root FROM logs WHERE election_id = $1

-- name: lock_head
-- FOR NO KEY UPDATE: appends are serialised on the head row, while inserts that only reference
-- it (a foreign key's FOR KEY SHARE: pending ballots, who voted, answers) go on beside them.
SELECT election_id, origin, size, chain_head, root FROM logs WHERE election_id = $1
FOR NO KEY UPDATE

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

-- name: delete_roll
DELETE FROM roll WHERE election_id = $1

-- name: unopened_ballots
-- Openings go in cast_index order, one batch per transaction, so every sealed ballot at or
-- below the highest opened cast_index is opened: the next batch is a range scan of the
-- primary key after it (O(batch), not an anti-join over the whole election).
SELECT s.cast_index, s.contest_id, s.selections, s.salt
FROM sealed_ballots s
WHERE s.election_id = $1
  AND s.cast_index > COALESCE(
      (SELECT max(o.cast_index) FROM openings o WHERE o.election_id = $1), -1)
ORDER BY s.cast_index
LIMIT $2

-- name: count_unopened
SELECT count(*) FROM sealed_ballots s
WHERE s.election_id = $1
  AND s.cast_index > COALESCE(
      (SELECT max(o.cast_index) FROM openings o WHERE o.election_id = $1), -1)

-- name: turnout_released
-- While the poll is open a turnout report counts each contest's ballot_cast entries in the
-- public log (released ballots: never the private pending store), from index $2 on (the
-- caller adds them to what it counted before; under the head lock every row is committed).
SELECT convert_from(body, 'UTF8')::jsonb #>> '{event,contest}' AS contest_id, count(*) AS n,
    max(idx) AS last
FROM entries WHERE election_id = $1 AND kind = 'ballot_cast' AND idx >= $2
GROUP BY 1

-- name: turnout_cells
-- The final report, after poll_closed (no ballot can be accepted any more): one statement, so
-- one snapshot, of each contest's participation by cell of the roll: the voter's value of each
-- dimension of $2, in order ('(none)' without one). Each contest's total is the sum of its cells.
SELECT p.contest_id,
    ARRAY(SELECT COALESCE(r.attributes ->> d.dim, '(none)')
          FROM unnest($2::text[]) WITH ORDINALITY AS d (dim, o) ORDER BY d.o) AS cell,
    count(*) AS n
FROM participation p
JOIN roll r ON r.election_id = p.election_id AND r.voter_id = p.voter_id
WHERE p.election_id = $1
GROUP BY 1, 2

-- name: final_turnout_taken
-- Whether a turnout report follows poll_closed (the final one is taken once).
SELECT EXISTS (
    SELECT 1 FROM entries t WHERE t.election_id = $1 AND t.kind = 'turnout_reported'
      AND t.idx > (SELECT min(c.idx) FROM entries c
                   WHERE c.election_id = $1 AND c.kind = 'poll_closed'))

-- name: roll_cells
-- Each roll member's attributes (for the contests' eligibility) and cell: the value of each
-- dimension of $2 as turnout_cells names it, so that the roll's groups and the ballots' match.
SELECT attributes::text AS attributes,
    ARRAY(SELECT COALESCE(attributes ->> d.dim, '(none)')
          FROM unnest($2::text[]) WITH ORDINALITY AS d (dim, o) ORDER BY d.o) AS cell
FROM roll WHERE election_id = $1

-- name: latest_turnout
SELECT idx, body FROM entries WHERE election_id = $1 AND kind = 'turnout_reported'
ORDER BY idx DESC LIMIT 1

-- name: polls_open
SELECT election_id FROM elections WHERE phase = 'poll_open'

-- name: polls_closed
SELECT election_id FROM elections WHERE phase = 'poll_closed'

-- name: due_to_close
SELECT election_id FROM elections WHERE phase = 'poll_open' AND poll_close <= now()

-- name: closing_unfinished
SELECT e.election_id FROM elections e WHERE e.phase = 'poll_closed' AND e.sealed
  AND EXISTS (
    SELECT 1 FROM sealed_ballots s
    WHERE s.election_id = e.election_id
      AND s.cast_index > COALESCE(
          (SELECT max(o.cast_index) FROM openings o WHERE o.election_id = e.election_id), -1))

-- name: checkpoint_sizes
SELECT size FROM checkpoints WHERE election_id = $1 ORDER BY size

-- name: needs_checkpoint
SELECT l.election_id FROM logs l
WHERE l.size > COALESCE((SELECT max(size) FROM checkpoints c WHERE c.election_id = l.election_id), 0)

-- name: checkpoint_notes
SELECT size, note FROM checkpoints WHERE election_id = $1 AND size <= $2 ORDER BY size

-- name: batch_reads
-- The group commit's first round trip (no lock, no transaction: the write below holds the
-- election row and refuses if the version checked here has moved): the log's origin and the
-- state version ('h'), earlier submissions with these ids ('s'), these voters' roll rows ('r'),
-- who of them already voted in these contests ('v'; the primary key probed once per (contest,
-- voter); LATERAL … LIMIT 1 keeps the planner from reading the whole election's participation
-- when its statistics are stale), and the latest signed checkpoint ('c').
SELECT 'h' AS kind, l.origin AS a, e.phase AS b, NULL::bytea AS mac, NULL::text AS doc,
       NULL::bigint AS size, e.version AS version
FROM logs l JOIN elections e ON e.election_id = l.election_id
WHERE l.election_id = $1
UNION ALL
SELECT 's', submission_id, NULL, request_mac, response::text, NULL, NULL
FROM submissions WHERE election_id = $1 AND submission_id = ANY($2::text[])
UNION ALL
SELECT 'r', voter_id, NULL, NULL, attributes::text, NULL, NULL
FROM roll WHERE election_id = $1 AND voter_id = ANY($3::text[])
UNION ALL
SELECT 'v', c.contest_id, v.voter_id, NULL, NULL, NULL, NULL
FROM unnest($4::text[]) AS c(contest_id)
CROSS JOIN unnest($3::text[]) AS v(voter_id)
CROSS JOIN LATERAL (
    SELECT 1 FROM participation p
    WHERE p.election_id = $1 AND p.contest_id = c.contest_id AND p.voter_id = v.voter_id
    LIMIT 1
) AS hit
UNION ALL
(SELECT 'c', NULL, NULL, root, NULL, size, NULL
 FROM checkpoints WHERE election_id = $1 ORDER BY size DESC LIMIT 1)

-- name: accept_ballots
-- The group commit's one write, one statement and so one transaction: hold the election row
-- FOR SHARE while the poll is open at the version the batch was checked at (the close and
-- every state change take it FOR UPDATE, so they wait for this write, and a write after them
-- finds no row), and only then insert the pending ballots, who voted where and the answers
-- kept for retries. Returns one row if written; none if the election moved on (nothing was
-- written; the batch is checked again).
WITH acceptance_lock AS (
    -- Shared: acceptances write side by side; a batch checked again after losing a race
    -- takes it exclusively (lock_acceptance), so nothing is written between its check and
    -- its write, and it cannot lose twice.
    SELECT pg_advisory_xact_lock_shared(hashtext('ballot-ledger:accept:' || $1)) AS held
), open_election AS (
    SELECT e.election_id FROM elections e, acceptance_lock
    WHERE e.election_id = $1 AND e.phase = 'poll_open' AND e.version = $2
    FOR SHARE OF e
), new_pending AS (
    INSERT INTO pending (election_id, contest_id, event_hash, event, selections, salt)
    SELECT o.election_id, c, h, ev, s::jsonb, salt
    FROM open_election o,
         unnest($3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::bytea[]) AS t(c, h, ev, s, salt)
), voted AS (
    INSERT INTO participation (election_id, contest_id, voter_id)
    SELECT o.election_id, c, v FROM open_election o, unnest($8::text[], $9::text[]) AS t(c, v)
), answered AS (
    INSERT INTO submissions (election_id, submission_id, request_mac, response)
    SELECT o.election_id, i, mac, r::jsonb
    FROM open_election o, unnest($10::text[], $11::bytea[], $12::text[]) AS t(i, mac, r)
)
SELECT true AS accepted FROM open_election

-- name: lock_acceptance
-- A batch checked again: the election's acceptance lock, exclusively, for its transaction.
SELECT pg_advisory_xact_lock(hashtext('ballot-ledger:accept:' || $1))

-- name: pending_counts
SELECT contest_id, count(*) AS n FROM pending WHERE election_id = $1 GROUP BY 1

-- name: pending_of_contest
-- A release round's pool, locked: two ledger processes cannot release the same ballots.
SELECT contest_id, event_hash, event, selections::text AS selections, salt FROM pending
WHERE election_id = $1 AND contest_id = $2 FOR UPDATE

-- name: pending_all
-- The close's final rounds: everything still pending, locked.
SELECT contest_id, event_hash, event, selections::text AS selections, salt FROM pending
WHERE election_id = $1 FOR UPDATE

-- name: lock_election
SELECT election_id FROM elections WHERE election_id = $1 FOR UPDATE

-- name: delete_pending
DELETE FROM pending WHERE election_id = $1 AND event_hash = ANY($2::bytea[])

-- name: released_by_event_hash
SELECT idx, body, leaf_hash, chain_hash, event_hash FROM entries
WHERE election_id = $1 AND event_hash >= $2 AND event_hash <= $3
ORDER BY event_hash LIMIT 2

-- name: pending_by_event_hash
SELECT event_hash FROM pending
WHERE election_id = $1 AND event_hash >= $2 AND event_hash <= $3
ORDER BY event_hash LIMIT 2

-- name: polls_with_pending
SELECT DISTINCT e.election_id FROM elections e
WHERE e.phase = 'poll_open' AND EXISTS (SELECT 1 FROM pending p WHERE p.election_id = e.election_id)

-- name: insert_provisional
INSERT INTO provisional_results (election_id, contest_id, result_hash, declaration)
VALUES ($1, $2, $3, $4) ON CONFLICT (election_id, contest_id) DO NOTHING

-- name: provisional
SELECT contest_id, result_hash, declaration, received_at
FROM provisional_results WHERE election_id = $1 AND contest_id = $2

-- name: provisionals
SELECT contest_id, result_hash, received_at FROM provisional_results WHERE election_id = $1
ORDER BY contest_id
