"""Budget closing (issue 19): the shortest valid end of a structured document, so that output
cut short by `max_tokens` can still be a document the schema accepts (torch-free core)."""

XARG = "structserve_close_on_budget"
"""The `vllm_xargs` key the gateway sets and the engine's processor reads."""
