"""Torch-free checkpoint side: format declarations, manifest, folder reading, checks.

The gateway imports this package (never torch); the engine-side tensor classes live in
`model_loaders.formats`.
"""
