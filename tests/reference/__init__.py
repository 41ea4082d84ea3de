"""Independent, brute-force reference implementation of SPEC.md, used by differential tests."""
