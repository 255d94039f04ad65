"""Generic helpers with no knowledge of the model or the data: files, devices, command-line plumbing,
timing, EMA, plots, provenance."""
