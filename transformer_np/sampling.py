"""Choosing the next token from the model's logits (greedy, temperature, top-k, top-p, repetition
penalty) and deciding when a sequence is done (stop strings).

Everything stays float32 and avoids work proportional to V log V: on GPT-2's 50257-token vocabulary a
full sort would be a sizeable share of a decode step (docs/PERFORMANCE.md). Greedy is one argmax; top-k is one
argpartition, after which only the k candidates are normalised and sampled; top-p sorts only the few
hundred most likely tokens when they already hold the mass p (almost always).
"""
import numpy as np

from .layers.activations import softmax

NUCLEUS_SHORTLIST = 256     # top-p sorts only this many of the most likely tokens when they hold the mass p


def top_candidates(scores, k):
    """The k largest scores of each row, unordered: ids (B, k) and their scores (B, k) (one argpartition,
    no sort). With k >= V: every token."""
    V = scores.shape[-1]
    if k >= V:
        return np.broadcast_to(np.arange(V), scores.shape), scores
    ids = np.argpartition(scores, V - k, axis=-1)[:, V - k:]          # (B, k)
    return ids, np.take_along_axis(scores, ids, axis=-1)


def nucleus(probs, p):
    """Top-p on candidate probabilities (B, K) that sum to 1: zero all but the smallest set of most likely
    candidates whose mass reaches p (the most likely one is always kept), renormalised."""
    order = np.argsort(-probs, axis=-1)                                 # (B, K) most likely first
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs       # mass of strictly likelier tokens
    keep = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, mass_before < p, axis=-1)
    filtered = np.where(keep, probs, 0.0).astype(probs.dtype)
    return filtered / filtered.sum(axis=-1, keepdims=True)


def candidate_distribution(logits, temperature=1.0, top_k=None, top_p=None):
    """(B, V) logits -> (ids, probs): the tokens that may be drawn, (B, K), and their probabilities after
    temperature, top-k and top-p, (B, K) float32 summing to 1 (K = V without top-k or a shortlist).

    Temperature divides the logits before the softmax: T < 1 sharpens the distribution, T > 1 flattens
    it. (Dividing and then taking the argmax would change nothing: temperature only matters when sampling.)
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0 for a distribution (temperature=0 means greedy)")
    V = logits.shape[-1]
    ids, scores = top_candidates(logits, int(top_k) if top_k is not None else V)
    probs = softmax(scores / float(temperature), axis=-1)              # float32 stays float32
    if top_p is None or top_p >= 1.0:
        return ids, probs
    if probs.shape[-1] > NUCLEUS_SHORTLIST:
        short_ids, short_probs = top_candidates(probs, NUCLEUS_SHORTLIST)
        if (short_probs.sum(axis=-1) >= top_p).all():                  # the nucleus lies in the shortlist
            ids = np.take_along_axis(np.broadcast_to(ids, probs.shape), short_ids, axis=-1)
            probs = short_probs / short_probs.sum(axis=-1, keepdims=True)
    return ids, nucleus(probs, float(top_p))


def next_token_distribution(logits, temperature=1.0, top_k=None, top_p=None):
    """(B, V) logits -> (B, V) float32 probabilities after temperature, top-k and top-p (zero for the
    tokens they remove). top-k keeps exactly k tokens (ties at the k-th value are broken arbitrarily)."""
    ids, probs = candidate_distribution(logits, temperature, top_k, top_p)
    out = np.zeros(logits.shape, dtype=probs.dtype)
    np.put_along_axis(out, np.broadcast_to(ids, probs.shape), probs, axis=-1)
    return out


def check_sampling(temperature, top_k, top_p):
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def check_finite(values):
    if not np.isfinite(values).all():
        raise FloatingPointError("the model's logits hold NaN or inf (are its weights or inputs finite?)")


def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """(B, V) logits -> (B,) token ids. temperature=0 is greedy (argmax); otherwise sample with `rng`."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        best = logits.argmax(axis=-1)                                   # NaN wins an argmax: one check
        check_finite(logits[np.arange(len(best)), best])               # per row finds NaN and inf
        return best
    ids, probs = candidate_distribution(logits, temperature, top_k, top_p)
    rng = np.random.default_rng() if rng is None else rng
    # Inverse-CDF sampling: the first candidate whose cumulative probability exceeds a uniform draw
    # (scaled by the total, so float32 rounding in the cumulative sum cannot run past the end).
    cumulative = np.cumsum(probs, axis=-1)
    check_finite(cumulative[:, -1])                                    # NaN or inf logits spread to it
    draws = rng.random((probs.shape[0], 1), dtype=np.float32) * cumulative[:, -1:]
    choice = (cumulative > draws).argmax(axis=-1)                       # (B,)
    return np.broadcast_to(ids, probs.shape)[np.arange(probs.shape[0]), choice]


class RepetitionPenalty:
    """Hugging Face's repetition penalty (from the CTRL paper): the logit of every token that already
    occurs in the row (prompt + generated so far) is divided by `penalty` where positive and multiplied
    where negative, so for penalty > 1 it always becomes less likely. Applied to the raw logits, before
    temperature, top-k and top-p.

    seen: (B, V) bool. Padding of a left-padded batch is not "in the row" (Hugging Face would penalise
    the pad token's id too; here a padded row gets what the same prompt gets alone).
    """

    def __init__(self, penalty, ids, vocab_size, attention_mask=None):
        if not penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {penalty}")
        self.penalty = float(penalty)
        ids = np.asarray(ids)
        self.seen = np.zeros((ids.shape[0], vocab_size), dtype=bool)
        rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)
        real = np.ones(ids.shape, dtype=bool) if attention_mask is None else np.asarray(attention_mask, bool)
        self.seen[rows[real], ids[real]] = True

    def add(self, next_ids):
        self.seen[np.arange(len(next_ids)), next_ids] = True

    def __call__(self, logits):
        penalised = np.where(logits < 0, logits * self.penalty, logits / self.penalty)
        return np.where(self.seen, penalised, logits)


class StopStrings:
    """Stop a row once its text ends in one of `stops`, with Hugging Face's rule (StopStringCriteria):
    the stop string must overlap the newest token (a stop string already complete before it does not
    count), and the text is the whole row, prompt included. Matching is on the UTF-8 bytes, so a stop
    string split over several tokens, or ending inside a longer token, is found.

    token_bytes: id -> bytes (a tokenizer's decode_bytes of one id). `generated[row]` are the row's new
    bytes; `cut(row)` is them up to where the stop string begins (what a user wants printed).
    """

    def __init__(self, stops, token_bytes, prompts):
        if any(not s for s in stops):
            raise ValueError("a stop string must not be empty")
        self.stops = [s.encode("utf-8") for s in stops]                # none: just collects the bytes
        self.token_bytes = token_bytes
        self.keep = max(map(len, self.stops), default=1) - 1           # bytes of context a match may need
        self.tails = [b"".join(token_bytes(int(t)) for t in prompt)[-self.keep:] if self.keep else b""
                      for prompt in prompts]
        self.generated = [bytearray() for _ in prompts]
        self.stop_at = [None] * len(prompts)                           # where in `generated` a stop begins

    def update(self, next_ids, active=None):
        """Add each row's newest token (rows that are not `active` are skipped); return (B,) bool: the
        rows whose stop string is complete now."""
        done = np.zeros(len(next_ids), dtype=bool)
        for row, token in enumerate(next_ids):
            if self.stop_at[row] is not None or (active is not None and not active[row]):
                continue
            new = self.token_bytes(int(token))
            for stop in self.stops:
                before = self.tails[row][max(len(self.tails[row]) - len(stop) + 1, 0):]   # can't hold it
                found = (before + new).find(stop)                      # so a match overlaps `new`
                if found >= 0:
                    self.stop_at[row] = max(len(self.generated[row]) + found - len(before), 0)
                    done[row] = True
                    break
            self.generated[row] += new
            self.tails[row] = (self.tails[row] + new)[-self.keep:] if self.keep else b""
        return done

    def safe_length(self, row):
        """How many of the row's generated bytes no future match can reach back into: safe to print."""
        if self.stop_at[row] is not None:
            return self.stop_at[row]
        return max(len(self.generated[row]) - self.keep, 0)

    def cut(self, row):
        end = self.stop_at[row]
        return bytes(self.generated[row] if end is None else self.generated[row][:end])
