"""The four rules of SPEC §4, one module each, evaluated in this order at every ``E_T``."""
