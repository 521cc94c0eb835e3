"""Model registries behind one interface: the local SQLite file and SageMaker's, as siblings.

``ModelRegistry`` (``base``) is what every registry offers; ``LocalRegistry`` (``local``) is the
embedded default. Importing this package never imports boto3.
"""

from trainguard.pipelines.registry.local import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    STATUSES,
    LocalRegistry,
    ModelRegistry,
    Package,
    PackageNotFoundError,
    RegistryError,
    StatusChange,
    metrics_from_evaluation,
    open_registry,
)

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "STATUSES",
    "LocalRegistry",
    "ModelRegistry",
    "Package",
    "PackageNotFoundError",
    "RegistryError",
    "StatusChange",
    "metrics_from_evaluation",
    "open_registry",
]
