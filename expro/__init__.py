"""Expro: supervision of land and house expropriation (征收监督)."""

__version__ = "0.1.0"
