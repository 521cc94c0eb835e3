"""Operating the Approved model and its costs: deploy the endpoint, alarm on degradation, start
retraining, and price, cap and budget what executions cost.

Each part reads one config section (``deploy``, ``alarms``, ``triggers``, ``cost``), refuses bad
input before any AWS call, and is an idempotent upsert: a second run with the same inputs changes
nothing.
"""
