-- 0001: the counter's own tables. The counter never reads the ledger's tables: everything here
-- comes from the ledger's public HTTP feed, verified entry by entry (docs/counter.md).
-- Every name starts with `counter_` so the counter may share a database with the ledger.

-- Where each election's fold stands: the next index to read is `size`. Moved only by
-- compare-and-swap on the old size, in the same transaction as the mirror rows and projection.
CREATE TABLE counter_progress (
    election_id     text PRIMARY KEY
        CONSTRAINT counter_progress_election_format
        CHECK (election_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    origin          text NOT NULL,
    size            bigint NOT NULL DEFAULT 0
        CONSTRAINT counter_progress_size_nonnegative CHECK (size >= 0),
    chain_head      bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
        CONSTRAINT counter_progress_chain_length CHECK (octet_length(chain_head) = 32),
    root            bytea NOT NULL DEFAULT sha256(''::bytea)
        CONSTRAINT counter_progress_root_length CHECK (octet_length(root) = 32),
    checkpoint_size bigint NOT NULL DEFAULT 0,
    checkpoint_root bytea NOT NULL DEFAULT sha256(''::bytea),
    checkpoint_note text,
    stopped         text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A verified mirror of each log: only entries the fold accepted, in order, never changed.
CREATE TABLE counter_entries (
    election_id text NOT NULL REFERENCES counter_progress (election_id),
    idx         bigint NOT NULL CONSTRAINT counter_entries_idx_nonnegative CHECK (idx >= 0),
    body        bytea NOT NULL,
    leaf_hash   bytea NOT NULL
        CONSTRAINT counter_entries_leaf_length CHECK (octet_length(leaf_hash) = 32),
    chain_hash  bytea NOT NULL
        CONSTRAINT counter_entries_chain_length CHECK (octet_length(chain_hash) = 32),
    CONSTRAINT counter_entries_pkey PRIMARY KEY (election_id, idx)
);

-- The running tallies (fold.running) as of `size`/`root`.
CREATE TABLE counter_projections (
    election_id text PRIMARY KEY REFERENCES counter_progress (election_id),
    size        bigint NOT NULL,
    root        bytea NOT NULL,
    running     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Final results, one per contest, counted once the poll closed and every ballot was opened.
CREATE TABLE counter_results (
    election_id  text NOT NULL REFERENCES counter_progress (election_id),
    contest_id   text NOT NULL,
    document     jsonb NOT NULL,
    result_hash  text NOT NULL,
    counted_size bigint NOT NULL,
    counted_root bytea NOT NULL,
    blt          text NOT NULL,
    declared     boolean NOT NULL DEFAULT false,
    declared_index bigint,
    counted_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT counter_results_pkey PRIMARY KEY (election_id, contest_id)
);

-- Everything that stopped a fold or disagreed, with its evidence.
CREATE TABLE counter_alerts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    message     text NOT NULL,
    evidence    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX counter_alerts_election ON counter_alerts (election_id, id);

-- Ledger verifier keys trusted on first use (when none are configured).
CREATE TABLE counter_trusted_keys (
    verifier text PRIMARY KEY,
    source   text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- The mirror is append-only, like the ledger's log.
CREATE FUNCTION counter_reject_mirror_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'counter mirror is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'BL001';
END;
$$;

CREATE TRIGGER counter_entries_append_only BEFORE UPDATE OR DELETE ON counter_entries
    FOR EACH ROW EXECUTE FUNCTION counter_reject_mirror_change();
CREATE TRIGGER counter_entries_no_truncate BEFORE TRUNCATE ON counter_entries
    FOR EACH STATEMENT EXECUTE FUNCTION counter_reject_mirror_change();
