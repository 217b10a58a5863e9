"""``python -m fastbp``: the command line (see fastbp._cli)."""
from fastbp._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
