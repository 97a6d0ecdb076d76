"""Import ROCKET's separated checkpoints (`<proj>_u` / `<proj>_v` linears).

ROCKET's `_sep` folders replace each compressed projection `P` by two linears run as
`P_v(P_u(x))`: `P_u.weight` [r, I] and `P_v.weight` [O, r] (its sparse factor; zeros are kept).
That is lowrank with V = `P_u.weight`, U = `P_v.weight`; `P_v.bias` becomes `P.bias`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from model_loaders.checkpoint.errors import RankMismatchError, UnexpectedTensorError
from model_loaders.formats.lowrank import LowRankTensors
from model_loaders.formats.writer import load_dense_state, write_state

U_SUFFIX, V_SUFFIX = "_u.weight", "_v.weight"


def import_rocket(src: Path | str, out: Path | str, *, sparse24_mode: str = "dense") -> Path:
    """Convert a ROCKET `_sep` folder into a structserve lowrank checkpoint.

    Args:
        src: the ROCKET folder (its config's auto_map is dropped: vLLM serves plain Llama).
        out: the structserve folder to write.
        sparse24_mode: unused by lowrank; kept for a uniform importer signature.

    Returns:
        out. Raises RankMismatchError when the two factors disagree.
    """
    src = Path(src)
    state = load_dense_state(src)
    layers = {}
    for key in sorted(k for k in state if k.endswith(U_SUFFIX)):
        name = key[: -len(U_SUFFIX)]
        first, second = state.pop(key), state.pop(f"{name}{V_SUFFIX}")  # [r, I], [O, r]
        if first.shape[0] != second.shape[1]:
            raise RankMismatchError(
                f"{name}{V_SUFFIX}", expected=f"rank {first.shape[0]}", found=second.shape[1]
            )
        if f"{name}_u.bias" in state:
            raise UnexpectedTensorError(
                f"{name}_u.bias", expected="no bias on the first factor", found="a bias"
            )
        if f"{name}_v.bias" in state:
            state[f"{name}.bias"] = state.pop(f"{name}_v.bias")
        layers[name] = LowRankTensors(U=second, V=first)
    dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.bfloat16)
    written = write_state(src, out, state, layers, dtype=dtype, sparse24_mode=sparse24_mode)
    _drop_auto_map(written)
    return written


def _drop_auto_map(folder: Path) -> None:
    import json

    path = folder / "config.json"
    config = json.loads(path.read_text())
    if config.pop("auto_map", None) is not None:
        path.write_text(json.dumps(config, indent=2) + "\n")
