"""Load testing and benchmarking of ethsource: `python -m load.loadtest`, `python -m load.bench`."""
