#!/usr/bin/env python
"""Write a small labelled CSV to try `train_toy.py --task classify-text` on: short made-up sentences about
sport, food or the weather, the topic in the `label` column.

    python examples/make_labelled_csv.py topics.csv --rows 600
    python train_toy.py --task classify-text --data topics.csv --out runs/topics

The sentences share their frame and filler words; only a few topic words tell the classes apart, and some
texts hold commas, quotes and line breaks (CSV quoting that the reader must undo, not the model learn).
"""
import argparse
import csv
import random
import sys

TOPIC_WORDS = {
    "sport": ["the match", "our striker", "the final whistle", "a penalty kick", "the goalkeeper", "the league table",
              "a late equaliser", "the referee", "the away team", "extra time"],
    "food": ["the soup", "fresh bread", "a spicy curry", "the dessert menu", "roasted garlic", "the pasta sauce",
             "a ripe mango", "the chef's special", "warm pancakes", "the cheese board"],
    "weather": ["the forecast", "a cold front", "heavy rain", "the morning fog", "a thunderstorm", "the humidity",
                "strong winds", "a clear sky", "the first frost", "light drizzle"],
}
FRAMES = ["{0} was {1} today", "I think {0} is {1}", "everyone said {0} looked {1}", "honestly, {0} seemed {1}",
          'she wrote: "{0} was {1}"', "{0}, as usual, felt {1}", "nobody expected {0} to be so {1}",
          "{0} was {1},\nor so they told me"]
FILLER = ["surprising", "quite something", "hard to ignore", "better than last week", "a bit much", "memorable",
          "odd", "worth talking about", "the talk of the town", "fine"]


def rows(n, seed):
    """n (text, label) pairs, the labels in turn (balanced), the words drawn from `seed`."""
    rng = random.Random(seed)
    labels = list(TOPIC_WORDS)
    for i in range(n):
        label = labels[i % len(labels)]
        text = rng.choice(FRAMES).format(rng.choice(TOPIC_WORDS[label]), rng.choice(FILLER))
        yield text[0].upper() + text[1:] + rng.choice([".", "!", "..."]), label


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the CSV file to write (columns: text, label)")
    parser.add_argument("--rows", type=int, default=600, help="how many rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the word choices")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be >= 1, got {args.rows}")
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows(args.rows, args.seed))
    print(f"wrote {args.rows} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
