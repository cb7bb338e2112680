"""singer-sdk's standard tap tests, against the simulator (the single-tenant layout)."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from dataops_simulator import Simulator
from tap_dataops.tap import TapDataOps
from tests.tap.helpers import TOKEN

_SIMULATOR = Simulator(projects=40, seed=11, tokens=(TOKEN,), rate_limit=None).start()
atexit.register(_SIMULATOR.stop)

TestTapDataOps = get_tap_test_class(
    tap_class=TapDataOps,
    config={"api_url": _SIMULATOR.url, "private_token": TOKEN, "requests_per_minute": 60_000},
    # A first run removes no project; this tenant's pipelines trigger no downstream pipeline.
    suite_config=SuiteConfig(ignore_no_records_for_streams=["removed_projects", "bridges"]),
)
