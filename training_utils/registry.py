"""Name -> component registries, the one registration mechanism: configs pick encoders, cells, decoders,
quantizers and datasets by name, and an unknown name is an error that lists what exists.

``@REGISTRY.register(name, *aliases)`` registers a class (and sets its ``registry_name``); a registry of
plain values (``DATASETS``) is filled from a dict at creation."""
from __future__ import annotations


class Registry(dict):
    def __init__(self, kind: str, entries: dict | None = None):
        super().__init__(entries or {})
        self.kind = kind

    def register(self, name: str, *aliases: str):
        """Class decorator: the class under ``name`` (its ``registry_name``) and each alias (e.g. the
        release's name for it)."""
        def wrap(cls):
            for key in (name, *aliases):
                if key in self:
                    raise ValueError(f"{self.kind} {key!r} is registered twice")
                self[key] = cls
            cls.registry_name = name
            return cls
        return wrap

    def get_class(self, name: str):
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; accepted: {', '.join(sorted(self))}")
        return self[name]
