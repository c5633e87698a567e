"""OCF resource agents, installed as ocf:pacemail:<name>, and the runtime they share."""
