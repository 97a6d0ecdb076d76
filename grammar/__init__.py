"""The engine's decoding grammar (llguidance) over bytes, torch- and FastAPI-free: shared by the
gateway's structured-output policy and the engine's budget-closing processor."""
