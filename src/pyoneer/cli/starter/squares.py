"""The squares of the first --limit numbers, to results/squares.json."""

import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--limit", type=int, default=5)
limit = parser.parse_args().limit

numbers = [int(line) for line in Path("data/numbers.txt").read_text().split()][:limit]
Path("results").mkdir(exist_ok=True)
Path("results/squares.json").write_text(json.dumps({n: n * n for n in numbers}, indent=2))
print(f"squared {len(numbers)} numbers")
