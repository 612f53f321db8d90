"""Gather every model's loss into one report: the best settings for each text first."""

import json
import sys
from pathlib import Path

models, target = Path(sys.argv[1]), Path(sys.argv[2])
results = sorted((json.loads(path.read_text()) for path in models.glob("*.json")),
                 key=lambda model: (model["data"], model["loss"]))
lines = [f"{len(results)} models"]
for data in sorted({model["data"] for model in results}):
    best = next(model for model in results if model["data"] == data)
    lines.append(f"best for {data}: lr={best['lr']} seed={best['seed']} loss={best['loss']:.6f}")
lines += [f"{model['data']:6} lr={model['lr']:<5} seed={model['seed']}  loss={model['loss']:.6f}" for model in results]
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text("\n".join(lines) + "\n")
print("\n".join(lines[:3]))
