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


class ManifestError(CheckpointError):
    """`quantization_config` is malformed (unknown format, missing or unknown key, bad value)."""

    kind = "invalid manifest"


class MissingTensorError(CheckpointError):
    """A tensor the manifest requires is absent."""

    kind = "missing tensor"


class UnexpectedTensorError(CheckpointError):
    """The checkpoint holds a tensor the manifest does not account for."""

    kind = "unexpected tensor"


class TensorShapeError(CheckpointError):
    """A tensor has the wrong shape."""

    kind = "wrong shape"


class TensorDtypeError(CheckpointError):
    """A tensor has the wrong dtype."""

    kind = "wrong dtype"


class RankMismatchError(CheckpointError):
    """Low-rank / dictionary factors disagree with each other or with the manifest."""

    kind = "rank mismatch"


class MaskNot24Error(CheckpointError):
    """A 2:4 position code or bitmask does not describe two of every four inputs."""

    kind = "mask is not 2:4"


class InvalidIndexError(CheckpointError):
    """An index tensor (spense rows, dictsparse coefficient rows) is out of range or repeats."""

    kind = "invalid index"


class TruncatedFileError(CheckpointError):
    """A safetensors file is shorter than its header says, or its header is unreadable."""

    kind = "truncated or corrupt file"


class CorruptHeaderError(CheckpointError):
    """A safetensors header (or shard index) is not what the format allows: not a bounded JSON
    object, a malformed tensor record, or byte ranges that disagree with the shapes."""

    kind = "corrupt safetensors header"


class UnsafeCheckpointError(CheckpointError):
    """The folder asks for something never done: loading pickle, or reading a path outside it."""

    kind = "refused checkpoint"
