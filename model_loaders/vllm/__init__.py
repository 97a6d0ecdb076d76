"""vLLM integration: the `vllm.general_plugins` hook, quantization config, linear methods, plans.

Only `plugin`, `config`, `linear_method` and `native_dense` import vLLM (and torch);
`native_config` is torch-free (the gateway imports it). This package's own import does nothing.
"""
