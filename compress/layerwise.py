"""Run a causal LM one decoder layer at a time, loading each layer's weights on demand.

Only the embedding (for the first inputs) and one decoder layer are in memory at once; the
rest of the weights stay in the safetensors files. Works for Llama-family models whose
decoder layers take (hidden_states, position_embeddings=(cos, sin)).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

LINEAR_GROUPS = (
    ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    ("self_attn.o_proj",),
    ("mlp.gate_proj", "mlp.up_proj"),
    ("mlp.down_proj",),
)
LINEARS = tuple(n for g in LINEAR_GROUPS for n in g)
# linears that read the same input tensor as another one (one Hessian for both)
SHARED_INPUT = {
    "self_attn.k_proj": "self_attn.q_proj",
    "self_attn.v_proj": "self_attn.q_proj",
    "mlp.up_proj": "mlp.gate_proj",
}


class LayerwiseModel:
    """A model folder opened for layer-by-layer execution."""

    def __init__(self, model_dir: Path, *, device: str = "cpu") -> None:
        import torch
        from safetensors import safe_open
        from transformers import AutoConfig, AutoModelForCausalLM

        from model_loaders.checkpoint.folder import safetensors_files

        self.model_dir = Path(model_dir)
        self.device = torch.device(device)
        self.config = AutoConfig.from_pretrained(self.model_dir)
        self.config._attn_implementation = "sdpa"
        self._where: dict[str, Path] = {}
        for path in safetensors_files(self.model_dir):
            with safe_open(str(path), framework="pt") as f:
                for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    self._where[key] = path
        with torch.device("meta"):
            self._skeleton = AutoModelForCausalLM.from_config(self.config)
        rotary_cls = type(self._skeleton.model.rotary_emb)
        self.rotary = rotary_cls(config=self.config).to(self.device)

    @property
    def num_layers(self) -> int:
        """Decoder layers in the model."""
        return int(self.config.num_hidden_layers)

    def tensor(self, key: str) -> torch.Tensor:
        """One stored tensor, float32 on the model's device."""
        from safetensors import safe_open

        with safe_open(str(self._where[key]), framework="pt") as f:
            return f.get_tensor(key).float().to(self.device)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids [N, L] -> first hidden states [N, L, d] (float32)."""
        import torch

        table = self.tensor("model.embed_tokens.weight")
        return torch.nn.functional.embedding(ids.to(self.device), table)

    def load_layer(self, index: int) -> torch.nn.Module:
        """Decoder layer `index` with its weights, float32, eval mode, on the device."""
        import copy

        prefix = f"model.layers.{index}."
        layer = copy.deepcopy(self._skeleton.model.layers[index]).to_empty(device=self.device)
        state = {k[len(prefix) :]: self.tensor(k) for k in self._where if k.startswith(prefix)}
        layer.load_state_dict(state, strict=True)
        return layer.float().eval()

    def run_layer(
        self, layer: torch.nn.Module, hidden: torch.Tensor, *, batch: int = 8
    ) -> torch.Tensor:
        """Apply one decoder layer to [N, L, d] hidden states, `batch` sequences at a time."""
        import torch

        n, seqlen, _ = hidden.shape
        pos = torch.arange(seqlen, device=self.device)[None, :]
        out = torch.empty_like(hidden)
        with torch.no_grad():
            for i in range(0, n, batch):
                x = hidden[i : i + batch].to(self.device)
                cos, sin = self.rotary(x, pos.expand(x.shape[0], -1))
                y = layer(x, position_embeddings=(cos, sin), position_ids=pos)
                out[i : i + batch] = y[0] if isinstance(y, tuple) else y
        return out
