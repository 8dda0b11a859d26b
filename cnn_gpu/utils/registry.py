"""Name -> class tables for everything a user may name by string or that a saved model names in JSON.

Only registered classes are ever built from a name, so loading a model file can construct nothing
else.
"""

from __future__ import annotations


class Registry:
    """The classes of one kind (``'optimizer'``, ``'loss'``, ...) by class name and by string alias."""

    def __init__(self, kind):
        self.kind = kind
        self.classes = {}
        self.aliases = {}

    def register(self, *aliases):
        """Class decorator: register ``cls`` under its class name and each alias."""

        def add(cls):
            self.classes[cls.__name__] = cls
            for alias in aliases:
                self.aliases[alias] = cls
            return cls

        return add

    def get(self, identifier):
        """An instance from an instance, an alias (``'adam'``) or ``{'class_name', 'config'}``."""
        if isinstance(identifier, tuple(self.classes.values())):
            return identifier
        if isinstance(identifier, str):
            cls = self.aliases.get(identifier.lower()) or self.classes.get(identifier)
            if cls is None:
                raise ValueError(f"unknown {self.kind} {identifier!r}: valid names are {', '.join(sorted(self.aliases))}")
            return cls()
        if isinstance(identifier, dict):
            return self.from_config(identifier)
        raise TypeError(f"{self.kind} must be a name, a config dict or a {self.kind} object, got {identifier!r}")

    def from_config(self, entry):
        """Build from ``{'class_name': ..., 'config': {...}}`` as ``serialize`` writes it."""
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise ValueError(f"a {self.kind} entry must be a dict with a 'class_name', got {entry!r}")
        cls = self.classes.get(entry["class_name"])
        if cls is None:
            raise ValueError(f"unknown {self.kind} class {entry['class_name']!r}: known are {', '.join(sorted(self.classes))}")
        config = entry.get("config", {})
        if not isinstance(config, dict):
            raise ValueError(f"the config of {self.kind} {entry['class_name']} must be a dict, got {config!r}")
        try:
            return cls.from_config(config)
        except TypeError as error:
            raise ValueError(f"{self.kind} {entry['class_name']}: bad config {config}: {error}") from error


def serialize(obj):
    """``{'class_name', 'config'}`` of a registered object, or None for None."""
    if obj is None:
        return None
    return {"class_name": type(obj).__name__, "config": obj.get_config()}
