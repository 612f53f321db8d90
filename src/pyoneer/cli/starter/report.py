"""Put stats and squares together in results/report.txt."""

import json
import os
from pathlib import Path

stats = json.loads(Path("results/stats.json").read_text())
squares = json.loads(Path("results/squares.json").read_text())
lines = [
    f"run {os.environ['PYONEER_RUN_ID']} of project {os.environ['PYONEER_PROJECT']}",
    f"{stats['count']} numbers, sum {stats['sum']}, mean {stats['mean']}",
    f"largest square computed: {max(squares.values())}",
]
Path("results/report.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
