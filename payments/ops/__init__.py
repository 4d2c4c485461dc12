"""What `tasks.py` runs: console output, the Pulumi CLI wrapper, deploy orchestration and records."""
