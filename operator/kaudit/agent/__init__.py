"""The node role: one agent per selected control-plane node, converging its host files."""
