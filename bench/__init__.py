"""Benchmarks: each prints a table and writes ``bench/results/<topic>/*.json``."""

import os

# as in fastgen/__init__.py: torch and JAX share the GPU, so JAX must not preallocate most of it
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
