"""One runnable module per workflow of the notes: ``python -m experiments.NAME --help``."""
