"""target-dataops-duckdb: the bundled Singer loader into DuckDB."""
