"""Reading, writing and generating records (no Jupyter imports)."""
