"""Benchmarks. Each module bench/<name>.py has main(); `python -m bench [name ...]` runs them."""
