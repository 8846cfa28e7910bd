"""The two halves of byte-pair encoding, on integer ids: applying merges, and learning them.

A *merge* says: wherever token ``left`` is directly followed by token ``right``,
replace the two with token ``merged``. Merges have a rank (their position in
merges.txt, i.e. the order they were learned); lower ranks win.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

#: Rank given to pairs that have no merge; larger than any real rank.
NO_MERGE = 1 << 62

#: (left id, right id) -> rank.
MergeRanks = dict[tuple[int, int], int]


def apply_merges(ids: list[int], merge_ranks: MergeRanks, merged_ids: list[int]) -> list[int]:
    """Repeatedly merge the lowest-ranked adjacent pair in ``ids`` (modified in place).

    ``merged_ids[rank]`` is the id the merge of that rank produces. We keep the
    rank of every adjacent pair in a parallel list, so each step is one C-speed
    ``min`` plus fixing the two neighbours of the merged spot, instead of
    rebuilding strings and pair sets as the classic implementation does. When a
    pair occurs several times, ``index`` finds the leftmost first, and the next
    step picks the same rank again, so occurrences merge left to right.
    """
    if len(ids) < 2:
        return ids
    rank_of = merge_ranks.get
    ranks = [rank_of(pair, NO_MERGE) for pair in zip(ids, ids[1:])]
    while True:
        best = min(ranks)
        if best == NO_MERGE:
            return ids
        at = ranks.index(best)
        ids[at] = merged_ids[best]
        del ids[at + 1]
        del ranks[at]
        # Only the pairs touching the new token changed.
        if at > 0:
            ranks[at - 1] = rank_of((ids[at - 1], ids[at]), NO_MERGE)
        if at < len(ranks):
            ranks[at] = rank_of((ids[at], ids[at + 1]), NO_MERGE)
        elif not ranks:
            return ids


def learn_merges(
    words: Iterable[tuple[list[int], int]],
    num_merges: int,
    token_bytes: list[bytes],
) -> list[tuple[int, int, int]]:
    """Learn up to ``num_merges`` merges from ``(ids, count)`` words; returns ``(left, right, merged)``.

    Each step merges the most frequent adjacent pair; ties go to the smallest
    ``(left, right)`` pair, so training is deterministic. ``token_bytes`` (id ->
    bytes) is extended with every new token. If a merge spells bytes that are
    already a token (e.g. ``a+bc`` after ``ab+c``), the existing id is reused,
    so every byte string has one id, as vocab.json requires; such a merge does
    not grow the vocabulary, and we keep going until ``num_merges`` new tokens.

    Speed: rather than recounting all pairs after every merge, we keep
    ``pair -> count`` and ``pair -> words containing it`` and only revisit the
    words that contain the merged pair, adjusting counts by the difference.
    The most frequent pair comes from a heap whose stale entries (counts that
    have since changed) are skipped when popped.
    """
    word_ids: list[list[int]] = []
    word_counts: list[int] = []
    pair_counts: Counter[tuple[int, int]] = Counter()
    pair_words: dict[tuple[int, int], set[int]] = {}
    for ids, count in words:
        index = len(word_ids)
        word_ids.append(list(ids))
        word_counts.append(count)
        for pair in zip(ids, ids[1:]):
            pair_counts[pair] += count
            pair_words.setdefault(pair, set()).add(index)

    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    id_of_bytes = {data: token_id for token_id, data in enumerate(token_bytes)}
    merges: list[tuple[int, int, int]] = []
    new_tokens = 0
    while new_tokens < num_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count or negative_count == 0:
            continue  # stale heap entry
        left, right = pair
        merged_bytes = token_bytes[left] + token_bytes[right]
        merged = id_of_bytes.get(merged_bytes)
        if merged is None:
            merged = len(token_bytes)
            token_bytes.append(merged_bytes)
            id_of_bytes[merged_bytes] = merged
            new_tokens += 1
        merges.append((left, right, merged))

        changed: Counter[tuple[int, int]] = Counter()
        for index in pair_words.pop(pair):
            ids = word_ids[index]
            if len(ids) < 2:
                continue
            count = word_counts[index]
            new_ids = _merge_pair(ids, left, right, merged)
            if len(new_ids) == len(ids):
                continue  # the pair left this word in an earlier merge
            for old_pair in zip(ids, ids[1:]):
                changed[old_pair] -= count
            for new_pair in zip(new_ids, new_ids[1:]):
                changed[new_pair] += count
                if new_pair[0] == merged or new_pair[1] == merged:
                    pair_words.setdefault(new_pair, set()).add(index)
            word_ids[index] = new_ids
        for changed_pair, delta in changed.items():
            if delta:
                total = pair_counts[changed_pair] + delta
                pair_counts[changed_pair] = total
                if total > 0:
                    heapq.heappush(heap, (-total, changed_pair))
        pair_counts.pop(pair, None)
    return merges


def _merge_pair(ids: list[int], left: int, right: int, merged: int) -> list[int]:
    """``ids`` with every non-overlapping ``left, right`` (scanning left to right) replaced."""
    out = []
    i, n = 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == left and ids[i + 1] == right:
            out.append(merged)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
