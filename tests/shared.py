"""Where the shared public datasets live (../shared/data beside the clone), and the rule for their absence:
tests that need them FAIL with a clear message, unless SIFT_ALLOW_NO_SHARED=1 asks to skip them."""
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_shared(path: Path = SHARED):
    if path.exists():
        return
    msg = (f"shared test data not found at {path}: clone the project next to ../shared "
           f"(or set SIFT_ALLOW_NO_SHARED=1 to skip these tests)")
    if os.environ.get("SIFT_ALLOW_NO_SHARED") == "1":
        pytest.skip(msg)
    pytest.fail(msg, pytrace=False)
