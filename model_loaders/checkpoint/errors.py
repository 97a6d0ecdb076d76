"""Typed errors of checkpoint loading (torch-free): each names the tensor, expected and found."""

from __future__ import annotations


class CheckpointError(ValueError):
    """Base of every error raised while reading a structserve checkpoint.

    Attributes:
        tensor: the tensor (or manifest key / file) at fault.
        expected: what the spec requires, as text.
        found: what the checkpoint holds, as text.
    """

    kind = "invalid checkpoint"

    def __init__(self, tensor: str, *, expected: object, found: object) -> None:
        self.tensor = tensor
        self.expected = str(expected)
        self.found = str(found)
        super().__init__(f"{self.kind}: {tensor}: expected {self.expected}, found {self.found}")

    def __init_subclass__(cls, *, kind: str, **kwargs: object) -> None:
        """Subclasses name their kind of problem inline: `class X(CheckpointError, kind=...)`."""
        super().__init_subclass__(**kwargs)
        cls.kind = kind


class ManifestError(CheckpointError, kind="invalid manifest"):
    """`quantization_config` is malformed (unknown format, missing or unknown key, bad value)."""


class MissingTensorError(CheckpointError, kind="missing tensor"):
    """A tensor the manifest requires is absent."""


class UnexpectedTensorError(CheckpointError, kind="unexpected tensor"):
    """The checkpoint holds a tensor the manifest does not account for."""


class TensorShapeError(CheckpointError, kind="wrong shape"):
    """A tensor has the wrong shape."""


class TensorDtypeError(CheckpointError, kind="wrong dtype"):
    """A tensor has the wrong dtype."""


class RankMismatchError(CheckpointError, kind="rank mismatch"):
    """Low-rank / dictionary factors disagree with each other or with the manifest."""


class MaskNot24Error(CheckpointError, kind="mask is not 2:4"):
    """A 2:4 position code or bitmask does not describe two of every four inputs."""


class InvalidIndexError(CheckpointError, kind="invalid index"):
    """An index tensor (spense rows, dictsparse coefficient rows) is out of range or repeats."""


class TruncatedFileError(CheckpointError, kind="truncated or corrupt file"):
    """A safetensors file is shorter than its header says, or its header is unreadable."""


class CorruptHeaderError(CheckpointError, kind="corrupt safetensors header"):
    """A safetensors header (or shard index) is not what the format allows: not a bounded JSON
    object, a malformed tensor record, or byte ranges that disagree with the shapes."""


class UnsafeCheckpointError(CheckpointError, kind="refused checkpoint"):
    """The folder asks for something never done: loading pickle, or reading a path outside it."""
