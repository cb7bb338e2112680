"""A DataOps.live REST API simulator for tests, benchmarks and the demo."""
