"""Budget closing (issue 19): the shortest valid end of a structured document, so that output
cut short by `max_tokens` can still be a document the schema accepts (torch-free core)."""

XARG = "structserve_close_on_budget"
"""The `vllm_xargs` key the gateway sets and the engine's processor reads."""

MARKER_XARG = "structserve_close_marker"
"""The `vllm_xargs` key naming the token a closing ends with instead of EOS (a special token the
grammar never produces, which the gateway also sends in `stop_token_ids`): the answer's
`stop_reason` is then that token, which is how the gateway knows the engine closed early."""
