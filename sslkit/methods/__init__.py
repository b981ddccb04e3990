"""Self-supervised methods, each a LightningModule subclass of :class:`SSLMethod`.

Families live in subpackages (``joint``, ``text``, ...); every name in a
family's ``__all__`` is re-exported here by the loop below (no hand-kept
list), so ``class_path: sslkit.methods.SimCLR`` works in recipes.
:func:`all_methods` finds every method class.
"""

from sslkit.methods import generative, joint, masked, pretext, sequence, text
from sslkit.methods.base import SSLMethod, Stage
from sslkit.methods.loading import load_method

#: the family subpackages; a new family is added here, a new method only to its family's ``__all__``.
FAMILIES = (generative, joint, masked, pretext, sequence, text)

for _family in FAMILIES:
    globals().update({_name: getattr(_family, _name) for _name in _family.__all__})


def all_methods() -> list[type[SSLMethod]]:
    """Every concrete :class:`SSLMethod` subclass defined in ``sslkit.methods``, sorted by name."""
    found, todo = set(), [SSLMethod]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("sslkit.methods.") and sub.training_loss is not SSLMethod.training_loss:
                found.add(sub)
    return sorted(found, key=lambda c: c.__name__)


__all__ = sorted({"SSLMethod", "Stage", "all_methods", "load_method", *(n for f in FAMILIES for n in f.__all__)})
