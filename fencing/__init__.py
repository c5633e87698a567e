"""Quorum guard, DRBD fence-peer/unfence-peer handlers, STONITH configuration."""
