"""The rollout across control-plane nodes, as pure decisions: no I/O, no Kubernetes client.

turn.py says which node may change now, entries.py what one node's entry says and when a node
is done, conditions.py what the AuditConfig's conditions are. Callers import from the modules.
"""
