"""Where the shared data sets live (WikiText-2 raw text): read in place, never copied.

`$STRUCTSERVE_SHARED_DATA`, else `shared/data` beside the repository. Resolved when asked (not at
import), so a test or a run can point it elsewhere. bench/ uses the same resolver.
"""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path:
    """`$STRUCTSERVE_SHARED_DATA`, else `shared/data` beside the repository."""
    env = os.environ.get("STRUCTSERVE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def wikitext2(split: str) -> Path:
    """The WikiText-2 raw file of `split` ("train", "valid" or "test")."""
    return shared_data_dir() / "wikitext2" / f"wiki.{split}.raw"


def default_calib() -> Path:
    """Default calibration text: WikiText-2 validation."""
    return wikitext2("valid")


def default_test_text() -> Path:
    """Default perplexity text: WikiText-2 test."""
    return wikitext2("test")
