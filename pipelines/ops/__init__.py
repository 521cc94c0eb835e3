"""Operating a deployed pipeline: what an execution costs, its caps, budgets and cost alarms."""
