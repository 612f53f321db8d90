"""Check the merged result: fail (exit 1) if it is empty or malformed."""

import sys
from pathlib import Path

lines = Path("results/top_words.txt").read_text().splitlines()
if not lines or any(len(line.split()) != 2 for line in lines):
    sys.exit("results/top_words.txt is empty or malformed")
print(f"ok: {len(lines)} top words")
