"""Cross-cutting building blocks, importable without a Pulumi engine."""
