"""Write the numbers 1 to 100 to data/numbers.txt."""

from pathlib import Path

Path("data").mkdir(exist_ok=True)
Path("data/numbers.txt").write_text("\n".join(str(n) for n in range(1, 101)) + "\n")
print("wrote 100 numbers to data/numbers.txt")
