"""What an instance type allows: local instance storage (no VolumeKmsKeyId) and instance counts.

SageMaker refuses ``VolumeKmsKeyId`` on instance types with local NVMe instance storage (the
hardware encrypts those volumes itself). The families are recorded with their sources in
docs/design.md ("Instance types and the volume KMS key"). Pure Python: config, lint and the jobs
share it.
"""

from __future__ import annotations

import re

__all__ = ["INSTANCE_STORAGE_FAMILIES", "TRAINING_INSTANCE_COUNT_MESSAGE", "has_instance_storage",
           "instance_storage_message"]

INSTANCE_STORAGE_FAMILIES = frozenset({
    "g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2",
})
"""Families with local NVMe storage whose names carry no ``d`` attribute (AWS docs name ml.p4d,
ml.g4dn, ml.g5 explicitly; the others per the EC2 instance-store tables)."""

_FAMILY = re.compile(r"^ml\.(?P<family>[a-z]+\d+[a-z-]*)\.[a-z0-9]+$")
# EC2 naming: after the generation digit, the attribute letters; "d" means local NVMe storage
# (m5d, c5d, r5d, m5ad, m6id, c6id, r6id, x2idn ...). g4dn's "dn" also carries it.
_STORAGE_ATTRIBUTE = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")

TRAINING_INSTANCE_COUNT_MESSAGE = (
    "the train job runs the whole cross-validation and final fit on each instance independently "
    "(nothing splits the work or the data between instances), so more instances cost more and "
    "give the same model; use 1 and a larger aws.training_instance_type for more speed.")


def has_instance_storage(instance_type: str) -> bool:
    """True when ``instance_type`` (``ml.<family>.<size>``) has local instance storage."""
    m = _FAMILY.match(instance_type.strip())
    if not m:
        return False
    family = m.group("family")
    return family in INSTANCE_STORAGE_FAMILIES or bool(_STORAGE_ATTRIBUTE.match(family))


def instance_storage_message(where: str, instance_type: str) -> str:
    """The one message for a default instance type that cannot take the volume KMS key."""
    return (f"{where} {instance_type} has local NVMe instance storage, on which SageMaker refuses "
            "VolumeKmsKeyId (the hardware encrypts it; every trainguard job carries the volume key). "
            "Use an EBS-backed type of the same size instead, e.g. ml.m5.xlarge, ml.c5.2xlarge or "
            "ml.r5.xlarge, and pass the same kind when overriding the instance type parameter at "
            "execution start.")
