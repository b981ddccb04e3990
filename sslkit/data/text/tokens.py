"""Tokenise texts once per tokenizer and text: an on-disk ``.npz`` cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from sslkit.data.text.sources import default_cache_dir
from sslkit.utils.hf import load_tokenizer, tokenizer_fingerprint


def tokenize_cached(texts: list[str], tokenizer: str, cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Tokenise ``texts`` without special tokens, once: cached on disk by tokenizer and text hash.

    Returns:
        ``{"ids": int32 tokens of all texts, "word_start": bool (token starts a word),
        "offsets": int64 (len(texts) + 1,) text boundaries into ids}``.
    """
    h = hashlib.sha256(tokenizer_fingerprint(tokenizer).encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    path = Path(cache_dir or default_cache_dir()) / f"tokens-{h.hexdigest()[:24]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    tok, ids, starts, offsets = load_tokenizer(tokenizer), [], [], [0]
    for i in range(0, len(texts), 1000):
        enc = tok(texts[i:i + 1000], add_special_tokens=False, return_attention_mask=False, verbose=False)
        for j, seq in enumerate(enc["input_ids"]):
            w = enc.word_ids(j)
            ids.append(np.asarray(seq, dtype=np.int32))
            starts.append(np.asarray([k == 0 or w[k] != w[k - 1] for k in range(len(w))], dtype=bool))
            offsets.append(offsets[-1] + len(seq))
    out = {"ids": np.concatenate(ids) if ids else np.zeros(0, np.int32),
           "word_start": np.concatenate(starts) if starts else np.zeros(0, bool), "offsets": np.asarray(offsets)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out
