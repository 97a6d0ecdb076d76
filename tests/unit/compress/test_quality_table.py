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
    assert lines[3].startswith("| sg | 20.00 | 2.00 | 0.500 |")
    assert lines[4].startswith("| sg healed | 15.00 | 1.50 | 0.500 |")
    assert png.stat().st_size > 0
