"""One builder per SageMaker step kind, each a function of a ``BuildContext``.

``steps.sdk`` is the only module that imports the SageMaker SDK; ``pipelines.build`` assembles
the builders (processing, tuning/training, condition, register) into the pipeline, and
``steps.security`` holds the controls every job carries. Importing ``steps`` alone is cheap.
"""
