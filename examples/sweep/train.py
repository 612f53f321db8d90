"""'Train' a tiny model: fit each word's share of the text by gradient steps.

A stand-in for real training: the learning rate, the seed and the number of epochs
change the result, and the loss says how well it fits.
"""

import argparse
import json
import os
import random
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("data", type=Path)
parser.add_argument("model", type=Path)
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--epochs", type=int, required=True)
options = parser.parse_args()

prepared = json.loads(options.data.read_text())
target = {word: count / prepared["words"] for word, count in prepared["counts"].items()}
chance = random.Random(options.seed)
weights = {word: chance.random() for word in target}
for _ in range(options.epochs):
    for word, share in target.items():
        weights[word] -= options.lr * 2 * (weights[word] - share)
loss = sum((weights[word] - share) ** 2 for word, share in target.items()) / len(target)

options.model.parent.mkdir(parents=True, exist_ok=True)
member = json.loads(os.environ["PYONEER_MATRIX"])  # this member's values, typed: {"data": "sea", "lr": 0.1, ...}
options.model.write_text(json.dumps({**member, "epochs": options.epochs, "loss": loss}))
print(f"{member}: loss {loss:.6f} after {options.epochs} epochs")
