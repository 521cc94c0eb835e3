"""trainguard's training core: data checks, splits, leakage-free CV, XGBoost, search, metrics, approval.

Plain numpy / scikit-learn / imbalanced-learn / xgboost; never imports sagemaker, boto3 or
botocore, so the same code runs inside SageMaker containers, in tests and in local runs.
"""
