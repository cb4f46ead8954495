"""Command-line interface (``edgefashion ...``)."""
