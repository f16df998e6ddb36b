"""Clients of the control API (/_localecs/...): for the command line and for test suites."""
