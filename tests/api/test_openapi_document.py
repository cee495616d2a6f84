"""The OpenAPI document must describe what the server does: ninja names each component schema after its class,
so two request or response schemas with the same class name in different contexts silently share one
component, and one of the operations documents the other's body."""

from __future__ import annotations

from collections import defaultdict

from siyu.api import api


def _models(annotation, seen):
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            _models(field.annotation, seen)
    for arg in getattr(annotation, "__args__", ()) or ():
        _models(arg, seen)


def api_models() -> set[type]:
    seen: set[type] = set()
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                for model in operation.models:  # ninja's parameter models; query/path ones are flattened
                    if model.__ninja_param_source__ in ("body", "form", "file"):
                        _models(model, seen)
                for response in operation.response_models.values():
                    _models(response, seen)
    return seen


def test_no_two_api_schemas_share_a_component_name():
    by_name = defaultdict(set)
    for model in api_models():
        if model.__module__.startswith("siyu."):
            by_name[model.__name__].add(f"{model.__module__}.{model.__qualname__}")
    clashes = {name: sorted(where) for name, where in by_name.items() if len(where) > 1}
    assert not clashes, f"rename one of each (the OpenAPI document shows only one of them): {clashes}"
