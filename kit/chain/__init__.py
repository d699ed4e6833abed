"""The cell chain: ``%%stream`` steps captured in the kernel, prototyped on
snapshots, and turned into service code."""
