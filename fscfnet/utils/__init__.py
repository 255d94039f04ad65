"""Shared helpers: typed configs, boxes, plots."""
