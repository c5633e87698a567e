"""Pacemaker's and corosync's command-line tools, one function a call.

Every call of cibadmin, crm_mon, crm_attribute, crm_resource, crm_verify,
crm_simulate, crm_node, crmadmin, stonith_admin, corosync-quorumtool,
corosync-cmapctl and sbd pacemail makes goes through this package, and so does every
parse of what they print: the rest of pacemail passes and gets CIB XML as
bytes and plain records, and knows no tool's flags or output format. Each
function takes ``run`` (:class:`runner.Runner`), so one call reaches this
machine's cluster, a CIB file, a lab node or a VM alike.

The modules the agents use (runner, attributes) import only the standard
library and :mod:`pacemail.proc`: an agent's start-up stays cheap.
"""
