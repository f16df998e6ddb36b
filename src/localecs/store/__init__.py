"""Persistence: tables, the database engine, migrations and the unit of work."""
