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
