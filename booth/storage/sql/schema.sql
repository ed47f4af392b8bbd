-- ballot-ledger booth: the whole current schema (what all migrations together produce).
-- A test checks it equals the migrations.

-- ==== 0001_booth.sql ====
-- 0001: the booth's own tables. What the booth keeps of a member: who they are on the roll
-- (for eligibility and to tell the ledger who votes), the keyed hash of their voting code, and
-- whether (and in which minute) they voted. Never a selection, a receipt, an event hash or a
-- submission id: the ballot lives only in the signed-in session's memory until it is cast.

CREATE TABLE booth_members (
    election_id text NOT NULL
        CONSTRAINT booth_members_election_format
        CHECK (election_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    voter_id    text NOT NULL
        CONSTRAINT booth_members_voter_length CHECK (length(voter_id) BETWEEN 1 AND 128),
    attributes  jsonb NOT NULL DEFAULT '{}',
    -- HMAC-SHA256 of the code under the booth's secret (booth/domain/codes.py).
    code_hash   bytea NOT NULL
        CONSTRAINT booth_members_code_hash_length CHECK (octet_length(code_hash) = 32),
    issued_at   timestamptz NOT NULL DEFAULT date_trunc('minute', now()),
    -- The minute the member's ballot was accepted (to the minute only: finer times could be
    -- matched with acceptance times). NULL: not voted.
    voted_on    timestamptz
        CONSTRAINT booth_members_voted_on_minute CHECK (voted_on = date_trunc('minute', voted_on)),
    CONSTRAINT booth_members_pkey PRIMARY KEY (election_id, voter_id),
    CONSTRAINT booth_members_code_hash_key UNIQUE (code_hash)
);
