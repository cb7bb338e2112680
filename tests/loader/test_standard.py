"""singer-sdk's standard target tests, against a real DuckDB file.

None of the standard tests contradicts a requirement, so none is overridden. Two
notes on how they are met:

- ``record_missing_required_property`` expects the load to succeed: the loader checks
  JSON types (fast, msgspec) but does not enforce ``required`` (every column is
  nullable), so the record lands with ``id`` NULL.
- ``invalid_schema`` (a SCHEMA without ``properties``) and ``record_before_schema`` /
  ``record_missing_key_property`` expect exceptions: the loader raises its one-line
  errors, which subclass the SDK's exception types.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from singer_sdk.testing import get_target_test_class

from target_dataops_duckdb.target import TargetDataOpsDuckDB

_DIR = Path(tempfile.mkdtemp(prefix="tdd-standard-"))

TestTargetDataOpsDuckDB = get_target_test_class(
    target_class=TargetDataOpsDuckDB,
    config={"database": str(_DIR / "standard.duckdb")},
)
