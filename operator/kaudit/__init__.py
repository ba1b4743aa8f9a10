"""kaudit: declarative, safe kube-apiserver audit logging for self-managed clusters."""

__version__ = "0.1.0"
