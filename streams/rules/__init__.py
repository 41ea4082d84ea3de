"""The rules of SPEC §4, one module each, evaluated in this order at every ``E_T``; the
campaign promises of §4.6 (``campaign_fulfilment``) last."""
