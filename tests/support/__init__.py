"""Helpers shared by the tests and the benchmarks (bench/): processes, fakes, stream readers.

bench/ imports only from this package, never from test modules or conftests; the
``test_*.py`` files here test the helpers themselves.
"""
