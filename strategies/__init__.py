"""Signals, the crowded long-short book, the junk-momentum overlay, and the two engines."""
