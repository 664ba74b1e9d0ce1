"""Name -> class registries, so configs pick components by name and errors list what exists."""
from __future__ import annotations


class Registry(dict):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str):
        def wrap(cls):
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = cls
            cls.registry_name = name
            return cls
        return wrap

    def get_class(self, name: str):
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; accepted: {', '.join(sorted(self))}")
        return self[name]
