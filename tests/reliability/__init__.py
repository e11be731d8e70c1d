"""Bounded reliability tests: kills, concurrency, hostile input and servers (issue 14)."""
