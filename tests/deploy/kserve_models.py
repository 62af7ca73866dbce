"""Checks InferenceServices against the KServe SDK's own models (run by the SDK's venv).

The SDK's OpenAPI-generated classes list every field (`attribute_map`) with its type
(`openapi_types`), nesting into the Kubernetes client's classes for pod fields. Each object is
walked strictly: an unknown field or a wrong type is an error; constructing each class then
enforces its required fields. Prints a JSON list of error strings.
Usage: python kserve_models.py FILE.yaml...
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import kserve.models
import kubernetes.client.models
import yaml

SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "bytes": (str,),
}


def model_class(name: str) -> Any:
    return getattr(kserve.models, name, None) or getattr(kubernetes.client.models, name)


def check(value: Any, kind: str, path: str, errors: list[str]) -> None:
    if kind == "object":
        return
    # kserve's classes write list[X] / dict(str, X); the Kubernetes client's List[X] / Dict[str, X].
    if m := re.fullmatch(r"(?:list|List)\[(.+)\]", kind):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            check(item, m.group(1), f"{path}[{i}]", errors)
        return
    if m := re.fullmatch(r"dict\(str, (.+)\)|Dict\[str, (.+)\]", kind):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        for key, item in value.items():
            check(item, m.group(1) or m.group(2), f"{path}.{key}", errors)
        return
    if kind in SCALARS:
        wrong_bool = isinstance(value, bool) and kind != "bool"
        if wrong_bool or not isinstance(value, SCALARS[kind]):
            errors.append(f"{path}: expected {kind}, got {value!r}")
        return
    cls = model_class(kind)
    if not isinstance(value, dict):
        errors.append(f"{path}: expected a {kind} object")
        return
    attributes = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in attributes:
            errors.append(f"{path}.{key}: no such field in {kind}")
            continue
        check(item, cls.openapi_types[attributes[key]], f"{path}.{key}", errors)
    try:  # the generated setters refuse a missing required field
        cls(**{attributes[k]: v for k, v in value.items() if k in attributes})
    except ValueError as e:
        errors.append(f"{path}: {e}")


def main(paths: list[str]) -> None:
    errors: list[str] = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc and doc.get("kind") == "InferenceService":
                    check(
                        doc, "V1beta1InferenceService", f"{path}:{doc['metadata']['name']}", errors
                    )
    sys.stdout.write(json.dumps(errors))


if __name__ == "__main__":
    main(sys.argv[1:])
