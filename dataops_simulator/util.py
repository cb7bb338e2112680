"""Small helpers every simulator module shares: GitLab's timestamp format, JSON encoding, seeded
random generators and cheap deterministic hashes. Standard library only."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

WEB = "https://app.dataops.live"
SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS

dumps = json.JSONEncoder(separators=(",", ":")).encode


def jbytes(obj) -> bytes:
    return dumps(obj).encode()


def iso(ms: int | None) -> str | None:
    """GitLab's timestamp format: UTC, milliseconds, trailing Z."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso_date(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(ms) // 1000))


def now_ms() -> int:
    return int(time.time() * 1000)


def to_ms(anchor) -> int:
    """An anchor (None: today's UTC midnight; a datetime; or epoch seconds) as epoch milliseconds."""
    if anchor is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return int(today.timestamp()) * 1000
    if isinstance(anchor, datetime):
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        return int(anchor.timestamp() * 1000)
    return int(float(anchor) * 1000)


def mix(seed: int, *parts: int) -> int:
    """A 64-bit value derived from ``seed`` and ``parts`` (the seed of a per-purpose generator)."""
    x = int(seed)
    for p in parts:
        x = (x * 1_000_003 + int(p)) & 0xFFFFFFFFFFFFFFFF
    return x


def rng_for(seed: int, *parts: int) -> random.Random:
    return random.Random(mix(seed, *parts))


def spread(x: int, lo: int, hi: int) -> int:
    """A cheap deterministic value in lo..hi-1 from the integer ``x`` (no generator needed)."""
    return lo + ((x * 2654435761) >> 7) % (hi - lo)


def slug(text: str) -> str:
    out = []
    for ch in text.lower():
        out.append(ch if ch.isascii() and ch.isalnum() else "-")
    return "-".join(part for part in "".join(out).split("-") if part)


def pick(rng: random.Random, weighted) -> str:
    total = sum(w for _, w in weighted)
    r = rng.random() * total
    for value, w in weighted:
        r -= w
        if r < 0:
            return value
    return weighted[-1][0]


def sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"
