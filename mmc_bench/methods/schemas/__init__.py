"""Every in-package method's hyper-parameter schema, one module per method module: --help, describe and
Hydra's config store read them without importing torch."""
