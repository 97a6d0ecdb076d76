"""One-shot compressors that turn a dense model into structserve checkpoints."""
