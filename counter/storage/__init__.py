"""PostgreSQL storage of the counter's projections and progress: the store and its SQL files."""
