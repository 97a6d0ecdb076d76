"""bench.quality_table: rows from real (tiny) one-shot and healed checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

from bench.quality_table import main
from compress.heal import HealConfig, heal
from compress.methods import MethodConfig
from compress.pipeline import RunConfig, run


def test_table_rows_from_checkpoints(
    tiny_model: Path, calib_text: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    comp = tmp_path / "sg"
    run(RunConfig(tiny_model, comp, MethodConfig("sparsegpt24"), calib_text, 4, 32), progress=False)
    healed = tmp_path / "sg-healed"
    heal(tiny_model, comp, healed, calib_text, HealConfig(steps=2, batch=1, seqlen=32))
    ppl = {}
    for name, value in (("dense", 10.0), ("sg", 20.0), ("healed", 15.0)):
        ppl[name] = tmp_path / f"{name}.json"
        ppl[name].write_text(json.dumps({"ppl": value}))
    png = tmp_path / "q.png"
    argv = ["--dense", str(tiny_model), "--dense-ppl", str(ppl["dense"]), "--png", str(png)]
    argv += ["--row", f"sg={comp}:{ppl['sg']}", "--row", f"sg healed={healed}:{ppl['healed']}"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| dense | 10.00 | 1.00 |")
    # fp32 tiny model: values 0.5 + 2-bit positions 1/32 of the dense bytes
    assert lines[3].startswith("| sg | 20.00 | 2.00 | 0.500 | 0.531 |")
    assert lines[4].startswith("| sg healed | 15.00 | 1.50 | 0.500 |")
    assert png.stat().st_size > 0


def test_linear_bytes_count_layers_kept_dense(
    tiny_model: Path, calib_text: Path, tmp_path: Path
) -> None:
    """A low-rank run that keeps some layers dense: those count at full size."""
    from bench.quality_table import linear_bytes
    from model_loaders.checkpoint.manifest import load_manifest

    out = tmp_path / "a"
    method = MethodConfig("asvd", ratio=0.5, allocation="fisher")
    report = run(RunConfig(tiny_model, out, method, calib_text, 4, 32), progress=False)
    manifest = load_manifest(out)
    assert manifest is not None
    kept_dense = 2 * 7 - len(manifest.layers)
    assert kept_dense > 0  # the Fisher budget keeps some layers dense on this model
    ratio = linear_bytes(out) / linear_bytes(tiny_model)
    assert abs(ratio - report["linear_param_ratio"]) < 1e-6  # same dtype: bytes = params
