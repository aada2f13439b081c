"""Files pvshare reads and writes: checked step-series CSVs and atomic, private writes."""
