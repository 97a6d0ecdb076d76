"""Linear kernels for compressed formats: pure-torch references and fast paths, one dispatcher."""
