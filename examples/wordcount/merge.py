"""Merge word counts: merge.py COUNTS.json... -> results/top_words.txt."""

import json
import sys
from collections import Counter
from pathlib import Path

total: Counter[str] = Counter()
for name in sys.argv[1:]:
    total.update(json.loads(Path(name).read_text()))
Path("results").mkdir(exist_ok=True)
lines = [f"{word} {count}" for word, count in total.most_common(10)]
Path("results/top_words.txt").write_text("\n".join(lines) + "\n")
print("top words:", ", ".join(lines[:5]))
