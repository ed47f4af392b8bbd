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
