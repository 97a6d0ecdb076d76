"""BFCL data: the `bfcl-eval` wheel from PyPI (fetched once, never installed) and its categories.

The wheel is downloaded with `pip download --no-deps` into `<cache>/bfcl/` and read as a zip:
`bfcl_eval/data/BFCL_v<N>_<category>.json` holds the questions (one JSON object a line: `id`,
`question` = turns of messages, `function` = the function docs) and
`bfcl_eval/data/possible_answer/BFCL_v<N>_<category>.json` the possible answers (`id`,
`ground_truth`). Irrelevance categories have no possible answers (the right answer is no call).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BFCL_VERSION = "2026.3.23"
"""The bfcl-eval release this benchmark was written and checked against."""

CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
)
"""The single-turn AST categories `bench bfcl` runs by default."""

# Older releases name simple_python `simple`; newer ones the other way round.
_ALIASES = {"simple": "simple_python", "simple_python": "simple"}
_DATA = re.compile(r"^bfcl_eval/data/BFCL_v(\d+)_(\w+)\.json$")


@dataclass(frozen=True)
class Entry:
    """One BFCL test case (single turn).

    Attributes:
        id: BFCL's id, e.g. `simple_python_0`.
        category: the category it was loaded for.
        messages: the chat turn (user, sometimes a leading system message).
        functions: BFCL function docs (BFCL's own types: dict, float, tuple, any, ...).
        ground_truth: the possible answers (a list of {function: {param: [allowed values]}}),
            None for irrelevance categories.
    """

    id: str
    category: str
    messages: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    ground_truth: list[dict[str, Any]] | None


def wheel_name(version: str = BFCL_VERSION) -> str:
    """The file name `pip download` gives the bfcl-eval wheel of `version`."""
    return f"bfcl_eval-{version}-py3-none-any.whl"


def ensure_wheel(cache_dir: Path, version: str = BFCL_VERSION) -> Path:
    """The bfcl-eval wheel under `cache_dir/bfcl/`, downloaded (no dependencies) when missing.

    Args:
        cache_dir: the structserve cache root.
        version: the bfcl-eval release.

    Returns:
        the wheel's path.
    """
    folder = cache_dir / "bfcl"
    wheel = folder / wheel_name(version)
    if wheel.is_file():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd += ["-q", "-d", str(folder), f"bfcl-eval=={version}"]
    subprocess.run(cmd, check=True)
    if not wheel.is_file():
        raise FileNotFoundError(f"pip download did not leave {wheel}")
    return wheel


def _category_files(names: list[str]) -> dict[str, tuple[int, str]]:
    """category -> (BFCL data version, question file) for the files in a wheel listing."""
    found: dict[str, tuple[int, str]] = {}
    for name in names:
        match = _DATA.match(name)
        if match:
            version, category = int(match.group(1)), match.group(2)
            if category not in found or found[category][0] < version:
                found[category] = (version, name)
    return found


def resolve_category(names: list[str], category: str) -> tuple[str, str]:
    """The question file and possible-answer file of `category` (or its alias) in a listing.

    Raises:
        KeyError: the wheel has no such category (the message lists the ones it has).
    """
    files = _category_files(names)
    for candidate in (category, _ALIASES.get(category)):
        if candidate in files:
            question = files[candidate][1]
            answer = question.replace("bfcl_eval/data/", "bfcl_eval/data/possible_answer/")
            return question, answer
    raise KeyError(f"no BFCL category {category!r}; the wheel has {sorted(files)}")


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_category(wheel: Path, category: str, limit: int | None = None) -> list[Entry]:
    """The first `limit` single-turn entries of `category` (all when None), with their answers.

    Args:
        wheel: the bfcl-eval wheel (or any zip laid out like it).
        category: e.g. `simple_python` (`simple` is accepted for either spelling).
        limit: entries per category, in file order.

    Raises:
        KeyError: unknown category, or an entry without its possible answer.
    """
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        question_file, answer_file = resolve_category(names, category)
        questions = _jsonl(archive.read(question_file).decode("utf-8"))
        answers: dict[str, Any] | None = None
        if answer_file in names:
            rows = _jsonl(archive.read(answer_file).decode("utf-8"))
            answers = {row["id"]: row["ground_truth"] for row in rows}
    if limit is not None:
        questions = questions[:limit]
    entries = []
    for row in questions:
        if len(row["question"]) != 1:
            raise ValueError(f"{row['id']}: multi-turn entries are not supported")
        truth = None
        if answers is not None:
            if row["id"] not in answers:
                raise KeyError(f"{row['id']}: no possible answer in {answer_file}")
            truth = answers[row["id"]]
        entries.append(Entry(row["id"], category, row["question"][0], row["function"], truth))
    return entries


def wheel_version(wheel: Path) -> str:
    """The bfcl-eval version from the wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".dist-info/METADATA"):
                for line in archive.read(name).decode("utf-8").splitlines():
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
    return "unknown"
