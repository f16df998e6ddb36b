"""The job engine: workers that claim tasks, run them through the driver and record outcomes."""
