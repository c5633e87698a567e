"""Failover drills: faults, mail workload, lost-mail and split-brain checkers, reports."""
