"""What CI runs against a pipeline: ``lint`` (safeguard policy), ``iam`` (least-privilege role),
``upsert`` (diff, bundle upload, create/update, start) and ``aws`` (clients and error mapping)."""
