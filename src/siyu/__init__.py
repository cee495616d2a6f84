"""Siyu: self-hosted private-domain customer management (SCRM + CRM + CDP)."""

__version__ = "0.1.0"
