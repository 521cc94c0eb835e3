"""Operating the Approved model: deploy the endpoint, alarm on degradation, start retraining.

Each part reads one config section (``deploy``, ``alarms``, ``triggers``), refuses bad input before
any AWS call, and is an idempotent upsert: a second run with the same inputs changes nothing.
"""
