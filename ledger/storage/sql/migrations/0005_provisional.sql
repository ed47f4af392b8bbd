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
