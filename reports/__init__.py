"""Batch area-discrepancy reports."""
