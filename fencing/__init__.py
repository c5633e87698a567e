"""Quorum guard, DRBD fence-peer/unfence-peer handlers and the constraint they place."""
