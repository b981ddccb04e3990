"""Torch datasets over cached tokens: labelled texts, masked-LM blocks and NSP pairs."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class LabelledText(Dataset):
    """``({"input_ids", "attention_mask"}, label)`` items, ``[CLS] text [SEP]`` truncated and padded to ``max_length``."""

    def __init__(self, tokens: dict[str, np.ndarray], labels: np.ndarray, cls_id: int, sep_id: int, pad_id: int,
                 max_length: int) -> None:
        self.tokens, self.labels = tokens, labels
        self.cls_id, self.sep_id, self.pad_id, self.max_length = cls_id, sep_id, pad_id, max_length

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], int]:
        a, b = self.tokens["offsets"][i], self.tokens["offsets"][i + 1]
        body = self.tokens["ids"][a:min(b, a + self.max_length - 2)].tolist()
        seq = [self.cls_id, *body, self.sep_id]
        ids = torch.full((self.max_length,), self.pad_id, dtype=torch.long)
        ids[: len(seq)] = torch.tensor(seq)
        mask = torch.zeros(self.max_length, dtype=torch.long)
        mask[: len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask}, int(self.labels[i])


def word_offsets(word_start: np.ndarray, special: np.ndarray) -> np.ndarray:
    """Character-like offsets that tell ``DataCollatorForLanguageModeling`` where words start
    (a gap before each word start, contiguous spans inside a word; ``(0, 0)`` on special tokens)."""
    new = word_start.astype(np.int64)
    start = np.cumsum(new + 1) - 1  # +1 per token, +1 more before each word start
    out = np.stack([start, start + 1], axis=-1)
    out[special] = 0
    return out


class MLMBlocks(Dataset):
    """Fixed-length ``[CLS] tokens [SEP]`` blocks cut from the concatenated documents (the tail is dropped)."""

    def __init__(self, tokens: dict[str, np.ndarray], docs: np.ndarray, block_size: int, cls_id: int, sep_id: int) -> None:
        if block_size < 8:
            raise ValueError(f"block_size must be >= 8, got {block_size}")
        spans = [(tokens["offsets"][d], tokens["offsets"][d + 1]) for d in docs]
        self.ids = np.concatenate([tokens["ids"][a:b] for a, b in spans] or [np.zeros(0, np.int32)])
        self.word_start = np.concatenate([tokens["word_start"][a:b] for a, b in spans] or [np.zeros(0, bool)])
        self.body, self.cls_id, self.sep_id = block_size - 2, cls_id, sep_id

    def __len__(self) -> int:
        return len(self.ids) // self.body

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        sl = slice(i * self.body, (i + 1) * self.body)
        ids = np.concatenate([[self.cls_id], self.ids[sl], [self.sep_id]]).astype(np.int64)
        starts = np.concatenate([[False], self.word_start[sl], [False]])
        special = np.zeros(len(ids), dtype=bool)
        special[[0, -1]] = True
        return {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "special_tokens_mask": special,
                "word_start": starts}


class NSPPairs(Dataset):
    """BERT's next-sentence-prediction pairs ``[CLS] A [SEP] B [SEP]`` (Devlin et al., 2019, arXiv:1810.04805).

    Each document is cut into segments of ``(block_size - 3) // 2`` tokens. Item
    ``i`` takes segment ``A`` = the i-th segment that has a successor in its
    document; with probability 1/2 ``B`` is that successor (label 0), otherwise
    a random segment of another document (label 1). Pairs are redrawn on every
    access (torch's RNG, seeded per DataLoader worker). Pairs are padded to
    ``block_size``.
    """

    def __init__(self, tokens: dict[str, np.ndarray], docs: np.ndarray, block_size: int, cls_id: int, sep_id: int,
                 pad_id: int) -> None:
        seg = (block_size - 3) // 2
        if seg < 2 or len(docs) < 2:
            raise ValueError("NSP needs block_size >= 7 and at least two documents")
        self.segments: list[tuple[int, int]] = []  # (start, end) into tokens["ids"]
        self.doc_of: list[int] = []
        for d in docs:
            a, b = int(tokens["offsets"][d]), int(tokens["offsets"][d + 1])
            for s in range(a, b, seg):
                self.segments.append((s, min(s + seg, b)))
                self.doc_of.append(int(d))
        self.doc_of_arr = np.asarray(self.doc_of)
        self.first = [k for k in range(len(self.segments) - 1) if self.doc_of[k] == self.doc_of[k + 1]]
        if not self.first:
            raise ValueError("NSP needs documents with at least two segments")
        self.tokens, self.block_size = tokens, block_size
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id

    def __len__(self) -> int:
        return len(self.first)

    def pair(self, i: int, is_random: bool) -> tuple[int, int]:
        """Segment indices ``(A, B)`` of item ``i``: ``B`` follows ``A`` unless ``is_random``."""
        a = self.first[i]
        if not is_random:
            return a, a + 1
        others = np.flatnonzero(self.doc_of_arr != self.doc_of[a])
        return a, int(others[torch.randint(len(others), ()).item()])

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        is_random = bool(torch.rand(()) < 0.5)
        a, b = self.pair(i, is_random)
        ids, ws = self.tokens["ids"], self.tokens["word_start"]
        (sa, ea), (sb, eb) = self.segments[a], self.segments[b]
        body = [np.asarray([self.cls_id]), ids[sa:ea], np.asarray([self.sep_id]), ids[sb:eb], np.asarray([self.sep_id])]
        seq = np.concatenate(body).astype(np.int64)
        n, pad = len(seq), self.block_size - len(seq)
        special = np.zeros(self.block_size, dtype=bool)
        special[[0, 1 + ea - sa]] = True
        special[n - 1:] = True
        starts = np.concatenate([[False], ws[sa:ea], [False], ws[sb:eb], [False], np.zeros(pad, bool)])
        types = np.concatenate([np.zeros(2 + ea - sa, np.int64), np.ones(self.block_size - 2 - ea + sa, np.int64)])
        types[n:] = 0
        return {"input_ids": np.concatenate([seq, np.full(pad, self.pad_id, np.int64)]), "token_type_ids": types,
                "special_tokens_mask": special, "word_start": starts, "next_sentence_label": np.int64(is_random)}
