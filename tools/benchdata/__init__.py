"""Benchmark task generators of shared/docs/evaluation.md (Shapes-VQA, Facts-QA)."""
