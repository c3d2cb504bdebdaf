"""Benchmarks, run as scripts (python bench/<name>.py). A package so that bench/import_export.py
is bench.import_export to tools, not a second django-import-export."""
