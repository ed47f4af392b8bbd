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
