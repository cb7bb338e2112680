"""The log filter that masks the token in whatever a library logs (tap_dataops/redaction.py).

Nothing in the tap formats a token into text; this is the second line of defence, so it is
tested directly: a record carrying the token in its message, in its arguments, in the
exception it carries, and inside a URL (urllib3's request lines at DEBUG).
"""

from __future__ import annotations

import io
import logging

import pytest

from tap_dataops.redaction import MASK, SecretFilter

TOKEN = "glpat-Filter-Canary-5Kq2"


@pytest.fixture
def logged():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    secret_filter = SecretFilter()
    secret_filter.secrets.add(TOKEN)
    handler.addFilter(secret_filter)
    logger = logging.getLogger("tests.redaction")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def test_the_token_in_a_message(logged):
    logger, stream = logged
    logger.warning(f"header PRIVATE-TOKEN: {TOKEN}")
    assert TOKEN not in stream.getvalue() and MASK in stream.getvalue()


def test_the_token_in_the_arguments(logged):
    logger, stream = logged
    logger.info("sent %s with %r", "GET /projects", {"PRIVATE-TOKEN": TOKEN})
    assert TOKEN not in stream.getvalue() and "GET /projects" in stream.getvalue()


def test_the_token_in_an_exception_and_its_traceback(logged):
    logger, stream = logged
    try:
        raise RuntimeError(f"refused {TOKEN}")
    except RuntimeError:
        logger.debug("Unexpected failure", exc_info=True)
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text and "RuntimeError" in text
    assert TOKEN not in text


def test_the_token_inside_a_url(logged):
    logger, stream = logged
    logger.debug('%s "%s %s HTTP/1.1" %s', "http://127.0.0.1:1", "GET", f"/api/v4/projects?private_token={TOKEN}", 200)
    assert TOKEN not in stream.getvalue() and "private_token=" + MASK in stream.getvalue()
