"""Choice sets on disk: what `/v1/choice_sets` stores and the engine loads (issue 18).

One folder per set under the store's root (the model cache's `choice_sets/` by default; a
volume the gateway and its engines share in compose and Kubernetes):

* `meta.json` — name, digest, item count, bytes, creation time;
* `items.json` — the distinct items in the order given (to compile for another tokenizer);
* `hashes.npy` — sorted 64-bit BLAKE2b hashes of the items: the gateway's membership verdict
  without holding a million strings in memory (a false match needs a 64-bit collision);
* `compiled/<digest>-<tokenizer>.npz` — the token trie for one tokenizer (`choice_sets.arrays`).

A set is written into a temporary folder and renamed into place, so a reader (another gateway
replica, the engine) sees it whole or not at all. The digest covers the distinct items in a
canonical order (by their 64-bit hash, which registration computes anyway; no string sort):
registering the same set again is idempotent, registering other items under a taken name is a
conflict (a set stored with the older digest, over sorted text, is compared item by item). Sets
whose name starts with `_inline-` are content-addressed sets the gateway makes for inline
`choice` lists above the grammar limit; they are not listed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from choice_sets.arrays import TrieArrays, build_arrays_flat
from choice_sets.tokenizer import ModelTokenizer

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
INLINE_PREFIX = "_inline-"
DIR_ENV = "STRUCTSERVE_CHOICE_SETS_DIR"
"""The engine's view of the store (the gateway's launcher sets it to the same folder)."""
XARG = "structserve_choice_set"
"""The `vllm_xargs` key naming a request's compiled trie (a path relative to the store)."""


class ChoiceSetError(ValueError):
    """Base of the store's errors (the gateway maps each to an HTTP status); `param` names the
    request field at fault."""

    def __init__(self, message: str, param: str = "items") -> None:
        super().__init__(message)
        self.param = param


class InvalidChoiceSetError(ChoiceSetError):
    """Bad name or items (400)."""


class ChoiceSetTooLargeError(ChoiceSetError):
    """Over a size limit (413)."""


class ChoiceSetNotFoundError(ChoiceSetError):
    """No set of that name (404)."""


class ChoiceSetExistsError(ChoiceSetError):
    """The name holds other items (409)."""


@dataclass(frozen=True)
class ChoiceSetLimits:
    """Bounds on what the store accepts."""

    max_items: int = 1_000_000
    max_item_chars: int = 512
    max_sets: int = 256
    max_inline_sets: int = 64
    """Inline sets kept (the oldest go first): each distinct long `choice` list makes one."""


@dataclass(frozen=True)
class ChoiceSetInfo:
    """A stored set's metadata (`meta.json`)."""

    name: str
    digest: str
    items: int
    bytes: int
    created_at: int
    duplicates_dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        """The API object."""
        return {"object": "choice_set", "id": self.name, **asdict(self)}


class ChoiceSetStore:
    """The folder of stored choice sets (module docstring); thread-safe within a process."""

    def __init__(self, root: Path, limits: ChoiceSetLimits | None = None) -> None:
        self.root = Path(root)
        self.limits = limits or ChoiceSetLimits()
        self._lock = threading.Lock()
        self._hashes: OrderedDict[str, np.ndarray] = OrderedDict()

    def create(
        self,
        name: str,
        items: Sequence[Any],
        tokenizers: Sequence[ModelTokenizer] = (),
        *,
        inline: bool = False,
    ) -> tuple[ChoiceSetInfo, bool]:
        """Store a set and compile it for `tokenizers` (`inline`: the gateway's own
        content-addressed set for an inline list; its name starts with `_inline-`).

        Returns:
            (its metadata, whether it was created: False when the same items were already
            stored under the name).

        Raises:
            InvalidChoiceSetError, ChoiceSetTooLargeError, ChoiceSetExistsError; and the
            tokenizer's NonCanonicalItemsError for items it cannot produce exactly.
        """
        check_name(name, allow_inline=inline)
        unique = self._validated(items)
        digested: tuple[np.ndarray, str] | None = None
        if (self._folder(name) / "meta.json").is_file():  # again, or a conflict: before compiling
            digested = _digested(unique)
            existing = self._existing(name, digested[1], unique)
            if existing is not None:
                return existing, False
        arrays, (hashes, digest) = _compile_and_digest(unique, tokenizers, digested)
        info = ChoiceSetInfo(
            name=name,
            digest=digest,
            items=len(unique),
            bytes=len("".join(unique).encode()),
            created_at=int(time.time()),
            duplicates_dropped=len(items) - len(unique),
        )
        with self._lock:
            existing = self._existing(name, digest, unique)
            if existing is not None:
                return existing, False
            if not inline and self._count() >= self.limits.max_sets:
                raise ChoiceSetTooLargeError(f"at most {self.limits.max_sets} choice sets")
            self._write(info, unique, np.sort(hashes), arrays)
            if inline:
                self._prune_inline()
        return info, True

    def get(self, name: str) -> ChoiceSetInfo:
        """The set's metadata. Raises ChoiceSetNotFoundError."""
        path = self._folder(name) / "meta.json"
        try:
            return ChoiceSetInfo(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise ChoiceSetNotFoundError(f"no choice set named {name!r}", "name") from None

    def items(self, name: str) -> list[str]:
        """The set's distinct items, in the order registered. Raises ChoiceSetNotFoundError."""
        try:
            return list(json.loads((self._folder(name) / "items.json").read_text()))
        except FileNotFoundError:
            raise ChoiceSetNotFoundError(f"no choice set named {name!r}", "name") from None

    def list_sets(self) -> list[ChoiceSetInfo]:
        """Every stored set but the inline ones, by name."""
        if not self.root.is_dir():
            return []
        names = sorted(p.name for p in self.root.iterdir() if NAME.fullmatch(p.name) and p.is_dir())
        found = []
        for name in names:
            try:
                found.append(self.get(name))
            except ChoiceSetNotFoundError:  # deleted meanwhile
                continue
        return found

    def delete(self, name: str) -> ChoiceSetInfo:
        """Remove a set. Raises ChoiceSetNotFoundError."""
        with self._lock:
            info = self.get(name)
            trash = self.root / f".deleted-{name}-{time.monotonic_ns()}"
            self._folder(name).rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
            self._hashes.pop(info.digest, None)
        return info

    def compiled(self, name: str, tokenizer: ModelTokenizer) -> tuple[ChoiceSetInfo, str]:
        """(metadata, path of its trie for `tokenizer` relative to the root), compiling it
        first when this tokenizer has none yet. Raises ChoiceSetNotFoundError."""
        info = self.get(name)
        relative = f"{name}/compiled/{info.digest[:16]}-{tokenizer.fingerprint}.npz"
        path = self.root / relative
        if not path.is_file():
            items = json.loads((self._folder(name) / "items.json").read_text())
            _compile(items, tokenizer).save(path)
        return info, relative

    def contains(self, info: ChoiceSetInfo, text: str) -> bool:
        """Whether `text` is one of the set's items (by its 64-bit hash)."""
        hashes = self._hashes.get(info.digest)
        if hashes is None:
            hashes = np.load(self._folder(info.name) / "hashes.npy")
            self._hashes[info.digest] = hashes
            while len(self._hashes) > 4:
                self._hashes.popitem(last=False)
        key = item_hashes([text])[0]
        at = int(np.searchsorted(hashes, key))
        return at < hashes.size and hashes[at] == key

    def sweep(self, older_than_s: float = 3600.0) -> int:
        """Remove what an interrupted write or delete left behind (`.new-*`, `.deleted-*`
        folders older than `older_than_s`); returns how many."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        stale = [
            p
            for p in self.root.iterdir()
            if p.name.startswith((".new-", ".deleted-")) and p.stat().st_mtime < cutoff
        ]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)

    def _prune_inline(self) -> None:
        """Keep the newest `max_inline_sets` inline sets (caller holds the lock)."""
        inline = sorted(
            (p for p in self.root.iterdir() if p.name.startswith(INLINE_PREFIX)),
            key=lambda p: p.stat().st_mtime,
        )
        for path in inline[: max(0, len(inline) - self.limits.max_inline_sets)]:
            trash = self.root / f".deleted-{path.name}-{time.monotonic_ns()}"
            path.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)

    def _validated(self, items: Sequence[Any]) -> list[str]:
        """Distinct items in first-seen order. Raises on bad or too many items."""
        if not isinstance(items, list | tuple) or not items:
            raise InvalidChoiceSetError("items must be a non-empty list of strings")
        if len(items) > self.limits.max_items:
            raise ChoiceSetTooLargeError(
                f"{len(items)} items; the limit is {self.limits.max_items}"
            )
        if set(map(type, items)) != {str} or min(map(len, items)) == 0:
            for index, item in enumerate(items):  # name the first bad one
                if not isinstance(item, str) or not item:
                    raise InvalidChoiceSetError(f"items[{index}] must be a non-empty string")
        longest = max(map(len, items))
        if longest > self.limits.max_item_chars:
            index = next(i for i, item in enumerate(items) if len(item) == longest)
            raise ChoiceSetTooLargeError(
                f"items[{index}] has {longest} characters; the limit is "
                f"{self.limits.max_item_chars}"
            )
        return list(dict.fromkeys(items))

    def _existing(self, name: str, digest: str, unique: list[str]) -> ChoiceSetInfo | None:
        """The set stored under `name` when it holds the same items, None when there is none.
        Raises ChoiceSetExistsError when it holds others."""
        try:
            info = self.get(name)
        except ChoiceSetNotFoundError:
            return None
        if info.digest != digest and not self._same_items(info, unique):
            raise ChoiceSetExistsError(
                f"choice set {name!r} exists with other items; DELETE it first", "name"
            )
        return info

    def _same_items(self, info: ChoiceSetInfo, unique: list[str]) -> bool:
        """Whether the stored set holds exactly `unique` (for a digest of another definition:
        sets stored before the digest was taken in hash order)."""
        if info.items != len(unique):
            return False
        stored = json.loads((self._folder(info.name) / "items.json").read_text())
        return set(stored) == set(unique)

    def _count(self) -> int:
        return len(self.list_sets())

    def _folder(self, name: str) -> Path:
        check_name(name, allow_inline=True)
        return self.root / name

    def _write(
        self,
        info: ChoiceSetInfo,
        items: list[str],
        sorted_hashes: np.ndarray,
        arrays: dict[str, TrieArrays],
    ) -> None:
        tmp = self.root / f".new-{info.name}-{time.monotonic_ns()}"
        (tmp / "compiled").mkdir(parents=True)
        try:
            (tmp / "items.json").write_text(json.dumps(items, ensure_ascii=False))
            np.save(tmp / "hashes.npy", sorted_hashes)
            for fingerprint, trie in arrays.items():
                trie.save(tmp / "compiled" / f"{info.digest[:16]}-{fingerprint}.npz")
            (tmp / "meta.json").write_text(json.dumps(asdict(info)))
            tmp.rename(self._folder(info.name))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def check_name(name: Any, *, allow_inline: bool = False) -> str:
    """The name, if valid. Raises InvalidChoiceSetError."""
    inline = allow_inline and isinstance(name, str) and name.startswith(INLINE_PREFIX)
    if inline and NAME.fullmatch(name[len(INLINE_PREFIX) :]):
        return str(name)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidChoiceSetError(
            "name must be 1-64 characters of letters, digits, '_', '.', '-', starting with a "
            "letter or digit",
            param="name",
        )
    return name


def items_digest(items: Sequence[str]) -> str:
    """SHA-256 over the distinct items, each followed by NUL, in a canonical order: by their
    64-bit hash (`item_hashes`), equal hashes by text. The list's order and duplicates do not
    matter."""
    unique = list(dict.fromkeys(items))
    return distinct_digest(unique, item_hashes(unique))


def distinct_digest(unique: Sequence[str], hashes: np.ndarray) -> str:
    """`items_digest` of distinct items whose [S] uint64 `hashes` are known."""
    order = np.argsort(hashes, kind="stable")  # [S]
    ranked = hashes[order]  # [S] ascending
    if np.any(ranked[1:] == ranked[:-1]):  # a 64-bit collision: order by text
        order = np.array(sorted(range(len(unique)), key=lambda i: (hashes[i], unique[i])))
    ordered = [unique[i] for i in order.tolist()]
    joined = "\0".join(ordered) + ("\0" if ordered else "")  # each item, then NUL
    return hashlib.sha256(joined.encode()).hexdigest()


def item_hashes(items: Sequence[str]) -> np.ndarray:
    """[n] uint64: each item's 64-bit BLAKE2b hash."""
    raw = b"".join(hashlib.blake2b(item.encode(), digest_size=8).digest() for item in items)
    return np.frombuffer(raw, dtype="<u8").copy()


def _digested(unique: Sequence[str]) -> tuple[np.ndarray, str]:
    """([S] uint64 hashes, digest) of distinct items."""
    hashes = item_hashes(unique)
    return hashes, distinct_digest(unique, hashes)


def _compile_and_digest(
    unique: list[str],
    tokenizers: Sequence[ModelTokenizer],
    digested: tuple[np.ndarray, str] | None,
) -> tuple[dict[str, TrieArrays], tuple[np.ndarray, str]]:
    """(trie arrays per tokenizer fingerprint, (hashes, digest)). The items are hashed in a
    second thread while the tries are built: hashing is Python under the GIL, the build is
    numpy sorts that run without it, so the two overlap on two cores. (Tokenizing already keeps
    every core busy, so the hashing waits for it.)"""
    encoded = [(tok, tok.encode_flat(unique)) for tok in tokenizers]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_digested, unique) if digested is None else None
        arrays = {
            tok.fingerprint: build_arrays_flat(flat, lengths, tok.vocab_size, tok.end_token)
            for tok, (flat, lengths) in encoded
        }
        if pending is not None:
            digested = pending.result()
    assert digested is not None
    return arrays, digested


def _compile(items: Sequence[str], tokenizer: ModelTokenizer) -> TrieArrays:
    flat, lengths = tokenizer.encode_flat(items)
    return build_arrays_flat(flat, lengths, tokenizer.vocab_size, tokenizer.end_token)
