-- First-start initialisation of the compose PostgreSQL (deploy/compose.yaml). The official
-- image runs this once, as the superuser, with psql, when the data volume is empty.
--
-- Two databases, each owned by its service's login role:
--   ballot_ledger   owned by ballot_ledger   (member of ballot_service)
--   ballot_counter  owned by ballot_counter
-- The login roles' passwords are read from the Docker secrets with psql's backquote
-- expansion: they appear in no file of the repository and in no environment variable.
--
-- ballot_service is the NOLOGIN role the ledger's migrations grant INSERT/SELECT on the log
-- to (ledger/storage/sql/migrations/0001_log.sql creates it when missing; creating it here first
-- lets the login role be made a member of it). The ledger connects as ballot_ledger, runs
-- its migrations as the owner, then every pooled connection does SET ROLE ballot_service
-- (BALLOT_DB_ROLE), so requests run with INSERT/SELECT only on the log.

\set ON_ERROR_STOP on
\set ledger_password `cat /run/secrets/ledger_db_password`
\set counter_password `cat /run/secrets/counter_db_password`

SET password_encryption = 'scram-sha-256';

CREATE ROLE ballot_service NOLOGIN;
CREATE ROLE ballot_ledger LOGIN PASSWORD :'ledger_password';
CREATE ROLE ballot_counter LOGIN PASSWORD :'counter_password';
GRANT ballot_service TO ballot_ledger;

CREATE DATABASE ballot_ledger OWNER ballot_ledger;
CREATE DATABASE ballot_counter OWNER ballot_counter;

-- Each service reaches its own database only.
REVOKE ALL ON DATABASE ballot_ledger FROM PUBLIC;
REVOKE ALL ON DATABASE ballot_counter FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE ballot_ledger TO ballot_ledger;
GRANT CONNECT, TEMPORARY ON DATABASE ballot_counter TO ballot_counter;

\unset ledger_password
\unset counter_password
