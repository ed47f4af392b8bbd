-- 0003: the latest published turnout report of an election, found without reading its ballots
-- (GET /turnout serves it; the next report is compared with it).

CREATE INDEX entries_turnout_reports ON entries (election_id, idx)
    WHERE kind = 'turnout_reported';
