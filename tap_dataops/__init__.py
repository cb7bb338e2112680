"""tap-dataops: a Singer tap for the DataOps.live REST API (GitLab API v4)."""
