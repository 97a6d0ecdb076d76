"""On-disk formats of compressed checkpoints, the default-model puller, and the vLLM plugin."""
