"""Sum and mean of the numbers, to results/stats.json."""

import json
from pathlib import Path

numbers = [int(line) for line in Path("data/numbers.txt").read_text().split()]
Path("results").mkdir(exist_ok=True)
stats = {"count": len(numbers), "sum": sum(numbers), "mean": sum(numbers) / len(numbers)}
Path("results/stats.json").write_text(json.dumps(stats, indent=2))
print("stats:", stats)
