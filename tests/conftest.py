"""Make tests/ and the runtime package (as `backend`, straight from the template) importable."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from helpers import TEMPLATE_PROJECT  # noqa: E402

sys.path.insert(0, str(TEMPLATE_PROJECT))

# Real PostgreSQL and Redis servers, for any test that asks for them by name (tests/engines.py)
from engines import postgres_server, postgres_url, redis_server, redis_url  # noqa: E402, F401
