"""PostgreSQL storage of the logs: the store and its SQL files. Imports the format, never the
service or HTTP."""
