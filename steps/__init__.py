"""One builder per SageMaker step kind, each a function of a ``BuildContext``.

``trainguard.steps.sdk`` is the only module that imports the SageMaker SDK; ``trainguard.pipelines.build`` assembles
the builders (processing, tuning/training, condition, register) into the pipeline, and
``trainguard.pipelines.build.build_context()`` hands the same ``BuildContext`` to pipelines of your own.
``trainguard.steps.security`` holds the controls every job carries and ``trainguard.steps.limits`` the service's limits
on config values. Importing ``steps`` alone is cheap.
"""
