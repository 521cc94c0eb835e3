"""One builder per SageMaker step kind, each a function of a ``BuildContext``.

``steps.sdk`` is the only module that imports the SageMaker SDK; ``pipelines.build`` assembles
the builders (processing, tuning/training, condition, register) into the pipeline, and
``pipelines.build.build_context()`` hands the same ``BuildContext`` to pipelines of your own.
``steps.security`` holds the controls every job carries and ``steps.limits`` the service's limits
on config values. Importing ``steps`` alone is cheap.
"""
