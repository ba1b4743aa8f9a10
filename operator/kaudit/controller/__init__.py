"""The cluster-level role: admission webhook, status summary, Events, and the deletion finalizer."""
