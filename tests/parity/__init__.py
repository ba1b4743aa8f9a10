"""Parity of kaudit's policy reader with kube-apiserver's: the real binary as the oracle, a
seeded generator of policies, and the reproducers of every disagreement found so far."""
