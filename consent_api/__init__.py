"""The Consent Wallet domain and its HTTP face, one package per resource (their order is in
the README's architecture section and pyproject.toml's import contracts)."""
