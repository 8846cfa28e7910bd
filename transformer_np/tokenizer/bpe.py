"""The two halves of byte-pair encoding, on integer ids: applying merges, and learning them.

A *merge* says: wherever token ``left`` is directly followed by token ``right``,
replace the two with token ``merged``. Merges have a rank (their position in
merges.txt, i.e. the order they were learned); lower ranks win.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import repeat

#: Rank given to pairs that have no merge; larger than any real rank.
NO_MERGE = 1 << 62

#: (left id, right id) -> rank.
MergeRanks = dict[tuple[int, int], int]


#: Words up to this many bytes use the simple list scan; longer ones the heap (see below).
LONG_WORD = 48


def apply_merges(ids: list[int], merge_ranks: MergeRanks, merged_ids: list[int]) -> list[int]:
    """Repeatedly merge the lowest-ranked adjacent pair in ``ids``; among equal ranks the leftmost.

    ``merged_ids[rank]`` is the id the merge of that rank produces. This is
    GPT-2's rule exactly; how we find the next pair depends on the word's length.
    """
    if len(ids) < 2:
        return ids
    if len(ids) > LONG_WORD:
        return _apply_merges_heap(ids, merge_ranks, merged_ids)
    return _apply_merges_scan(ids, merge_ranks, merged_ids)


def _apply_merges_scan(ids: list[int], merge_ranks: MergeRanks, merged_ids: list[int]) -> list[int]:
    """Short words (``ids`` modified in place): keep the rank of every adjacent pair in a parallel
    list, so each step is one C-speed ``min`` plus fixing the two neighbours of the merged spot.
    ``index`` finds the leftmost of equal ranks. O(n) per merge, O(n^2) per word: fine for short words."""
    rank_of = merge_ranks.get
    ranks = list(map(rank_of, zip(ids, ids[1:]), repeat(NO_MERGE)))
    while True:
        best = min(ranks)
        if best == NO_MERGE:
            return ids
        at = ranks.index(best)
        ids[at] = merged = merged_ids[best]
        del ids[at + 1]
        del ranks[at]
        # Only the pairs touching the new token changed.
        if at:
            ranks[at - 1] = rank_of((ids[at - 1], merged), NO_MERGE)
        if at < len(ranks):
            ranks[at] = rank_of((merged, ids[at + 1]), NO_MERGE)
        elif not ranks:
            return ids


def _apply_merges_heap(ids: list[int], merge_ranks: MergeRanks, merged_ids: list[int]) -> list[int]:
    """Long words in O(n log n): pairs bucketed by rank, a heap of ranks, a linked list of parts.

    Position ``i`` is where a part starts in the original word; merging keeps the
    left part's position, so positions stay in text order. ``pair_rank[i]`` is the
    current rank of the pair starting at part ``i``. We take the lowest rank from
    the heap and merge its pairs left to right (its positions, sorted); an entry
    that no longer matches ``pair_rank`` is stale (merged away or changed) and is
    skipped. A merge only creates pairs with the new token, which cannot have the
    same rank; if one has a *lower* rank (possible in hand-made vocabularies, never
    in GPT-2's), we put the rest of the bucket back and take the lowest rank again.
    So the order is exactly "lowest rank, then leftmost", one merge at a time.
    Buckets keep a merge to about two list appends, instead of heap pushes of tuples.
    """
    rank_of = merge_ranks.get
    size = len(ids)
    next_part = list(range(1, size + 1))  # size means "no next part"
    prev_part = list(range(-1, size - 1))
    pair_rank = [rank_of(pair, NO_MERGE) for pair in zip(ids, ids[1:])] + [NO_MERGE]
    buckets: dict[int, list[int]] = {}
    for at, rank in enumerate(pair_rank):
        if rank != NO_MERGE:
            buckets.setdefault(rank, []).append(at)
    heap = list(buckets)
    heapq.heapify(heap)

    def add(at: int, rank: int) -> None:
        bucket = buckets.get(rank)
        if bucket is None:
            buckets[rank] = [at]
            heapq.heappush(heap, rank)
        else:
            bucket.append(at)

    while heap:
        rank = heapq.heappop(heap)
        positions = sorted(buckets.pop(rank))
        for index, at in enumerate(positions):
            if pair_rank[at] != rank:
                continue  # stale
            merged = merged_ids[rank]
            ids[at] = merged
            right = next_part[at]
            after = next_part[right]
            next_part[at] = after
            pair_rank[right] = NO_MERGE  # the right part is gone
            lowest_new = NO_MERGE
            if after < size:
                prev_part[after] = at
                new_rank = pair_rank[at] = rank_of((merged, ids[after]), NO_MERGE)
                if new_rank != NO_MERGE:
                    add(at, new_rank)
                    lowest_new = new_rank
            else:
                pair_rank[at] = NO_MERGE
            before = prev_part[at]
            if before >= 0:
                new_rank = pair_rank[before] = rank_of((ids[before], merged), NO_MERGE)
                if new_rank != NO_MERGE:
                    add(before, new_rank)
                    lowest_new = min(lowest_new, new_rank)
            if lowest_new < rank:  # a lower rank appeared: it goes first
                for rest in positions[index + 1:]:
                    add(rest, rank)
                break
    out, at = [], 0
    while at < size:
        out.append(ids[at])
        at = next_part[at]
    return out


def learn_merges(
    words: Iterable[tuple[list[int], int]],
    num_merges: int,
    token_bytes: list[bytes],
    progress: Callable[[int], None] | None = None,
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
    have since changed) are skipped when popped. ``progress(new_tokens_so_far)``,
    if given, is called after each new token (it decides itself when to print).
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
            if progress is not None:
                progress(new_tokens)
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
