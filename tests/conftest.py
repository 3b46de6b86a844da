"""Make tests/ and the runtime package (as `backend`, straight from the template) importable."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from helpers import TEMPLATE_PROJECT  # noqa: E402

sys.path.insert(0, str(TEMPLATE_PROJECT))
