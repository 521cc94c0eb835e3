"""Model registries behind one interface: the local SQLite file and SageMaker's, as siblings.

``ModelRegistry`` (``base``) is what every registry offers; ``LocalRegistry`` (``local``) is the
embedded default. Importing this package never imports boto3.
"""

from trainguard.pipelines.registry.base import (
    STATUSES,
    ChampionBar,
    ModelRegistry,
    Package,
    PackageNotFoundError,
    RegistryError,
    StatusChange,
    champion_bar_of,
    metrics_from_evaluation,
)
from trainguard.pipelines.registry.local import APPLICATION_ID, SCHEMA_VERSION, LocalRegistry, open_registry

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "STATUSES",
    "ChampionBar",
    "LocalRegistry",
    "ModelRegistry",
    "Package",
    "PackageNotFoundError",
    "RegistryError",
    "StatusChange",
    "champion_bar_of",
    "metrics_from_evaluation",
    "open_registry",
]
