"""Benchmark task generators of shared/DESIGN.md section 3 (Shapes-VQA, Facts-QA)."""
