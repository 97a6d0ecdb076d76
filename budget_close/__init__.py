"""Budget closing (issue 19): the shortest valid end of a structured document, so that output
cut short by `max_tokens` can still be a document the schema accepts (torch-free core)."""
