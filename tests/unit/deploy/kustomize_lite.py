"""A test-side renderer for the subset of kustomize that deploy/k8s uses.

No kustomize binary installs from PyPI, so the tests render the overlays themselves; where a real
`kustomize` or `kubectl` is on PATH, a test checks that both renderers agree.

Supported: `resources` (files and directories), `namespace`, `images`
(name / newName / newTag / digest), and `patches` holding inline JSON 6902 operations
(add / remove / replace / test) with a `target` of group, version, kind, name (a regex) and
labelSelector (equality terms). Anything else in a kustomization raises `UnsupportedKustomize`,
so a manifest change that needs more fails loudly instead of rendering wrong.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "APIService",
}

Obj = dict[str, Any]


class UnsupportedKustomize(ValueError):
    """The kustomization uses a feature this renderer does not implement."""


def find_kustomization(folder: Path) -> Path:
    """The kustomization file of `folder`."""
    for name in KUSTOMIZATION_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no kustomization file in {folder}")


def render(folder: Path) -> list[Obj]:
    """Render the kustomization in `folder` into a list of Kubernetes objects.

    Args:
        folder: a directory holding a kustomization file.

    Returns:
        The objects, in resource order.
    """
    spec = yaml.safe_load(find_kustomization(folder).read_text()) or {}
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedKustomize(f"{folder}: unsupported kustomization keys {sorted(unknown)}")
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        objects.extend(render(path) if path.is_dir() else _load_file(path))
    for patch in spec.get("patches", []):
        _apply_patch(objects, patch, folder)
    for image in spec.get("images", []):
        _set_image(objects, image)
    if "namespace" in spec:
        _set_namespace(objects, spec["namespace"])
    return objects


def _load_file(path: Path) -> list[Obj]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise UnsupportedKustomize(f"{path}: not a Kubernetes object: {str(doc)[:80]}")
    return docs


# ---- targets ---------------------------------------------------------------------------------


def group_version(obj: Obj) -> tuple[str, str]:
    """(group, version) of an object's apiVersion; the core group is ''."""
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version


def labels_match(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    """Whether every key=value of `selector` is in `labels` (an empty selector matches all)."""
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _parse_label_selector(text: str) -> dict[str, str]:
    terms: dict[str, str] = {}
    for term in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = term.partition("=")
        if not sep or value.startswith("=") or key.endswith("!"):
            raise UnsupportedKustomize(f"labelSelector term {term!r}: only key=value is supported")
        terms[key.strip()] = value.strip()
    return terms


def _matches(obj: Obj, target: dict[str, Any]) -> bool:
    unknown = set(target) - {"group", "version", "kind", "name", "labelSelector"}
    if unknown:
        raise UnsupportedKustomize(f"unsupported patch target keys {sorted(unknown)}")
    group, version = group_version(obj)
    checks = [
        "group" not in target or target["group"] == group,
        "version" not in target or target["version"] == version,
        "kind" not in target or target["kind"] == obj["kind"],
        "name" not in target or re.fullmatch(target["name"], obj["metadata"]["name"]),
    ]
    if "labelSelector" in target:
        selector = _parse_label_selector(target["labelSelector"])
        checks.append(labels_match(selector, obj["metadata"].get("labels")))
    return all(checks)


# ---- JSON 6902 -------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise UnsupportedKustomize(f"JSON pointer must start with '/': {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def apply_json_patch(doc: Obj, operations: list[dict[str, Any]]) -> None:
    """Apply JSON 6902 add / remove / replace / test operations to `doc` in place."""
    for op in operations:
        parts = _pointer(op["path"])
        parent, last = _parent(doc, parts), parts[-1]
        kind = op["op"]
        if kind == "add":
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                parent[last] = value
        elif kind == "replace":
            key = int(last) if isinstance(parent, list) else last
            if isinstance(parent, dict) and key not in parent:
                raise KeyError(f"replace: {op['path']} does not exist")
            parent[key] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif kind == "test":
            key = int(last) if isinstance(parent, list) else last
            if parent[key] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        else:
            raise UnsupportedKustomize(f"JSON patch op {kind!r} is not supported")


def _apply_patch(objects: list[Obj], patch: dict[str, Any], folder: Path) -> None:
    if set(patch) - {"target", "patch", "path"}:
        raise UnsupportedKustomize(f"unsupported patch keys {sorted(patch)}")
    text = patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text()
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise UnsupportedKustomize("only JSON 6902 patches (a list of operations) are supported")
    targets = [obj for obj in objects if _matches(obj, patch.get("target", {}))]
    if not targets:
        raise ValueError(f"patch target {patch.get('target')} matches nothing")
    for obj in targets:
        apply_json_patch(obj, operations)


# ---- images and namespace --------------------------------------------------------------------


def containers(obj: Any) -> Iterator[dict[str, Any]]:
    """Every container and init container anywhere in an object (any kind, CRDs included)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from containers(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from containers(item)


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def _set_image(objects: list[Obj], rule: dict[str, Any]) -> None:
    if set(rule) - {"name", "newName", "newTag", "digest"}:
        raise UnsupportedKustomize(f"unsupported images keys {sorted(rule)}")
    for obj in objects:
        for container in containers(obj):
            name, tag, digest = split_image(container.get("image", ""))
            if name != rule["name"]:
                continue
            name = rule.get("newName", name)
            if "digest" in rule:
                container["image"] = f"{name}@{rule['digest']}"
            elif "newTag" in rule:
                container["image"] = f"{name}:{rule['newTag']}"
            else:
                suffix = f":{tag}" if tag else ""
                container["image"] = name + suffix + (f"@{digest}" if digest else "")


def _set_namespace(objects: list[Obj], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] == "Namespace":
            if obj["metadata"]["name"] != namespace:
                raise UnsupportedKustomize("renaming a Namespace object is not supported")
        elif obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
