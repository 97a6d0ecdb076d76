"""Benchmarks shipped as `structserve bench` subcommands (bench/cli.py) and `structserve eval`."""
