"""Prepare a text: the frequency of each word, as JSON."""

import json
import sys
from collections import Counter
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
words = [word.strip(".,;:!?\"'()").lower() for word in source.read_text().split()]
counts = Counter(word for word in words if word)
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(json.dumps({"words": sum(counts.values()), "counts": counts}, indent=1))
print(f"{source}: {sum(counts.values())} words, {len(counts)} distinct")
