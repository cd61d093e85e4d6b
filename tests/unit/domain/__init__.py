"""Unit tests of the pure domain package ``events``."""
