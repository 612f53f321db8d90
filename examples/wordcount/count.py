"""Count the words of one text: count.py INPUT OUTPUT."""

import json
import sys
from collections import Counter
from pathlib import Path

from textutils import words

source, target = Path(sys.argv[1]), Path(sys.argv[2])
counts = Counter(words(source.read_text()))
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(json.dumps(counts, indent=1, sort_keys=True))
print(f"{source}: {sum(counts.values())} words, {len(counts)} different")
