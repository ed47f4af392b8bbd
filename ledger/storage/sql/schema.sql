-- ballot-ledger: the whole current schema (what all migrations together produce).
-- Test databases are built from this file; a test checks it equals the migrations.

-- ==== 0001_log.sql ====
-- 0001: the verifiable log. One log per election: a head row, the entries, the perfect Merkle
-- nodes, and the signed checkpoints. Entries, nodes and checkpoints are append-only.

CREATE TABLE logs (
    election_id text PRIMARY KEY
        CONSTRAINT logs_election_id_format CHECK (election_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    origin      text NOT NULL CONSTRAINT logs_origin_unique UNIQUE,
    size        bigint NOT NULL DEFAULT 0 CONSTRAINT logs_size_nonnegative CHECK (size >= 0),
    chain_head  bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
        CONSTRAINT logs_chain_head_length CHECK (octet_length(chain_head) = 32),
    root        bytea NOT NULL DEFAULT sha256(''::bytea)
        CONSTRAINT logs_root_length CHECK (octet_length(root) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    election_id text NOT NULL REFERENCES logs (election_id),
    idx         bigint NOT NULL CONSTRAINT entries_idx_nonnegative CHECK (idx >= 0),
    kind        text NOT NULL,
    leaf_hash   bytea NOT NULL CONSTRAINT entries_leaf_length CHECK (octet_length(leaf_hash) = 32),
    chain_hash  bytea NOT NULL CONSTRAINT entries_chain_length CHECK (octet_length(chain_hash) = 32),
    body        bytea NOT NULL CONSTRAINT entries_body_size CHECK (octet_length(body) <= 65536),
    appended_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT entries_pkey PRIMARY KEY (election_id, idx),
    CONSTRAINT entries_leaf_unique UNIQUE (election_id, leaf_hash)
);

CREATE TABLE tree_nodes (
    election_id text NOT NULL REFERENCES logs (election_id),
    level       smallint NOT NULL CONSTRAINT tree_nodes_level_range CHECK (level BETWEEN 0 AND 63),
    idx         bigint NOT NULL CONSTRAINT tree_nodes_idx_nonnegative CHECK (idx >= 0),
    hash        bytea NOT NULL CONSTRAINT tree_nodes_hash_length CHECK (octet_length(hash) = 32),
    CONSTRAINT tree_nodes_pkey PRIMARY KEY (election_id, level, idx)
);

CREATE TABLE checkpoints (
    election_id text NOT NULL REFERENCES logs (election_id),
    size        bigint NOT NULL CONSTRAINT checkpoints_size_nonnegative CHECK (size >= 0),
    root        bytea NOT NULL CONSTRAINT checkpoints_root_length CHECK (octet_length(root) = 32),
    note        text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- One checkpoint per size: the log never signs two different roots for one size.
    CONSTRAINT checkpoints_pkey PRIMARY KEY (election_id, size)
);

-- Append-only enforcement, for every role including the owner and superusers.
CREATE FUNCTION reject_log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ballot log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'BL001';
END;
$$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER tree_nodes_append_only BEFORE UPDATE OR DELETE ON tree_nodes
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER tree_nodes_no_truncate BEFORE TRUNCATE ON tree_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();

-- The head row only grows: its size never goes back and it is never deleted.
CREATE FUNCTION reject_head_rewind() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.size < OLD.size OR NEW.election_id <> OLD.election_id
       OR NEW.origin <> OLD.origin THEN
        RAISE EXCEPTION 'ballot log head may only grow: % on % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'BL001';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER logs_only_grow BEFORE UPDATE OR DELETE ON logs
    FOR EACH ROW EXECUTE FUNCTION reject_head_rewind();
CREATE TRIGGER logs_no_truncate BEFORE TRUNCATE ON logs
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();

-- The service role: INSERT and SELECT on the log, UPDATE on the head row only.
-- Roles are cluster-wide, so they are created only when missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ballot_service') THEN
        CREATE ROLE ballot_service NOLOGIN;
    END IF;
END;
$$;

REVOKE ALL ON logs, entries, tree_nodes, checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON entries, tree_nodes, checkpoints TO ballot_service;
GRANT SELECT, INSERT, UPDATE ON logs TO ballot_service;

-- ==== 0002_elections.sql ====
-- 0002: election state and the ledger's private tables. None of these is published.
-- The public log (0001) is the authority; `elections` caches the phase for quick filters.
-- No private table links a voter to a ballot: participation records only that a voter took
-- part in a contest, and submissions are keyed by the front-end's random submission id with
-- an HMAC of the request, so the database alone cannot tell who cast which ballot.

CREATE TABLE elections (
    election_id text PRIMARY KEY REFERENCES logs (election_id),
    phase       text NOT NULL,
    version     bigint NOT NULL DEFAULT 0,
    sealed      boolean NOT NULL,
    poll_close  timestamptz,
    roll_salt   bytea,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE roll (
    election_id text NOT NULL REFERENCES logs (election_id),
    voter_id    text NOT NULL,
    attributes  jsonb NOT NULL,
    CONSTRAINT roll_pkey PRIMARY KEY (election_id, voter_id)
);

CREATE TABLE participation (
    election_id text NOT NULL REFERENCES logs (election_id),
    contest_id  text NOT NULL,
    voter_id    text NOT NULL,
    CONSTRAINT participation_pkey PRIMARY KEY (election_id, contest_id, voter_id)
);

CREATE TABLE submissions (
    election_id   text NOT NULL REFERENCES logs (election_id),
    submission_id text NOT NULL,
    request_mac   bytea NOT NULL,
    response      jsonb NOT NULL,
    CONSTRAINT submissions_pkey PRIMARY KEY (election_id, submission_id)
);

CREATE TABLE sealed_ballots (
    election_id text NOT NULL REFERENCES logs (election_id),
    cast_index  bigint NOT NULL,
    contest_id  text NOT NULL,
    selections  jsonb NOT NULL,
    salt        bytea NOT NULL CONSTRAINT sealed_ballots_salt_length CHECK (octet_length(salt) = 32),
    CONSTRAINT sealed_ballots_pkey PRIMARY KEY (election_id, cast_index)
);

CREATE TABLE openings (
    election_id  text NOT NULL REFERENCES logs (election_id),
    cast_index   bigint NOT NULL,
    opened_index bigint NOT NULL,
    CONSTRAINT openings_pkey PRIMARY KEY (election_id, cast_index)
);

-- The events that make up an election's state (everything but ballots and turnout reports),
-- read back in order to rebuild the state.
CREATE INDEX entries_state_events ON entries (election_id, idx)
    WHERE kind NOT IN ('ballot_cast', 'ballot_opened', 'turnout_reported');

-- The latest published turnout report, found without reading the ballots (0003).
CREATE INDEX entries_turnout_reports ON entries (election_id, idx)
    WHERE kind = 'turnout_reported';

-- Who voted, the sealed selections and the openings are never changed or removed either.
CREATE TRIGGER participation_append_only BEFORE UPDATE OR DELETE ON participation
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER participation_no_truncate BEFORE TRUNCATE ON participation
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER sealed_ballots_append_only BEFORE UPDATE OR DELETE ON sealed_ballots
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER sealed_ballots_no_truncate BEFORE TRUNCATE ON sealed_ballots
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER openings_append_only BEFORE UPDATE OR DELETE ON openings
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER openings_no_truncate BEFORE TRUNCATE ON openings
    FOR EACH STATEMENT EXECUTE FUNCTION reject_log_change();
CREATE TRIGGER submissions_append_only BEFORE UPDATE OR DELETE ON submissions
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();

REVOKE ALL ON elections, roll, participation, submissions, sealed_ballots, openings FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON elections TO ballot_service;
-- The roll is replaced as a whole when it is uploaded again before the poll opens.
GRANT SELECT, INSERT, DELETE ON roll TO ballot_service;
GRANT SELECT, INSERT ON participation, submissions, sealed_ballots, openings TO ballot_service;

-- ==== 0004_rounds.sql ====
-- 0004: release rounds (DESIGN §6, docs/log-format.md §7). A cast is accepted into the private
-- pending store, not the public log; a release round later moves some of one contest's pending
-- ballots into the log, in random order, and deletes their pending rows. The pending store is
-- not the log: its rows are deleted once released. It keeps no time of arrival and no voter.

CREATE TABLE pending (
    election_id text NOT NULL REFERENCES logs (election_id),
    contest_id  text NOT NULL,
    event_hash  bytea NOT NULL CONSTRAINT pending_event_hash_length
                CHECK (octet_length(event_hash) = 32),
    event       bytea NOT NULL,
    selections  jsonb,
    salt        bytea CONSTRAINT pending_salt_length CHECK (octet_length(salt) = 32),
    CONSTRAINT pending_pkey PRIMARY KEY (election_id, contest_id, event_hash)
);

-- A receipt's code finds its ballot while it waits (a prefix range of the event hash).
CREATE UNIQUE INDEX pending_by_event_hash ON pending (election_id, event_hash);

-- Every ballot entry's event hash (SHA-256 of the event's canonical bytes): unique in its log,
-- so one accepted ballot can never be released twice, and a receipt's code finds its entry.
ALTER TABLE entries ADD COLUMN event_hash bytea;
CREATE UNIQUE INDEX entries_by_event_hash ON entries (election_id, event_hash)
    WHERE event_hash IS NOT NULL;

-- A pending row is never changed: it is inserted at acceptance and deleted at its release.
-- (The UPDATE privilege is granted only because a round's SELECT … FOR UPDATE needs it.)
CREATE TRIGGER pending_never_changes BEFORE UPDATE ON pending
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();

REVOKE ALL ON pending FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON pending TO ballot_service;

-- ==== 0005_provisional.sql ====
-- 0005: provisional results awaiting the returning officer's approval (definition
-- `declare: on_approval`). The counter's signed declaration is kept here, private, until the
-- officer approves it: then `result_approved` and this `result_declared` are appended. One per
-- contest, never changed: a second declaration must have the same result hash.

CREATE TABLE provisional_results (
    election_id text NOT NULL REFERENCES logs (election_id),
    contest_id  text NOT NULL,
    result_hash text NOT NULL,
    declaration jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provisional_results_pkey PRIMARY KEY (election_id, contest_id)
);

CREATE TRIGGER provisional_results_append_only BEFORE UPDATE OR DELETE ON provisional_results
    FOR EACH ROW EXECUTE FUNCTION reject_log_change();

REVOKE ALL ON provisional_results FROM PUBLIC;
GRANT SELECT, INSERT ON provisional_results TO ballot_service;

CREATE TABLE schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_migrations (version) VALUES ('0001_log'), ('0002_elections'), ('0003_turnout'), ('0004_rounds'),
    ('0005_provisional');
