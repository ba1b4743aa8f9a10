"""A simulated cluster for the agent model test: hosts, kubelets, the API, schedules, the
invariants and a shrinker (test_agent_model.py runs it, test_agent_model_regressions.py keeps
what it found)."""
