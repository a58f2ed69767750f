#!/usr/bin/env python3
"""Validate rendered Kubernetes manifests against the Kubernetes API schemas, offline.

Usage: k8s_validate.py MANIFESTS_YAML

Every document is checked with PyPI `kubernetes-validate` (which ships the schemas) in
strict mode (unknown fields are errors) against the newest Kubernetes version it knows.
Prints one JSON object on one line on stdout: {"kubernetes": VERSION, "objects": [...],
"errors": ["Kind/name: message", ...]} with the parsed objects, so the caller can check
their content as well.
"""

import json
import sys

import kubernetes_validate
import yaml


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        objects = [doc for doc in yaml.safe_load_all(f) if doc is not None]
    version = kubernetes_validate.latest_version()
    errors = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {'.'.join(str(p) for p in e.path)}: {e.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
            errors.append(f"{name}: {e}")
    print(json.dumps({"kubernetes": version, "objects": objects, "errors": errors}))


if __name__ == "__main__":
    main()
