"""Benchmarks: one module per figure, each exposing run(quick) -> list[dict]; bench.run collects them."""
