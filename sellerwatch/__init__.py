"""sellerwatch: the command line and the embedded replay driver around the core in ``streams``."""
