"""The controller: cluster description -> CIB, plan/apply, the reconcile daemon, and the CLI."""
