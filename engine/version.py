"""The package version (read by ``pyproject.toml`` at build time, and written into every saved file)."""

VERSION = "0.1.0"
