"""https://github.com/pytorch/examples/blob/main/word_language_model/README.md
pytorch/examples word_language_model, its README's Transformer run:
``python main.py --epochs 6 --model Transformer --lr 5``.

Changed to run offline: word_language_model.py's offline corpus (CPython's bundled help
topics) and 2 epochs (was 6); everything else is that script's.
"""

from __future__ import annotations

from word_language_model import main

if __name__ == "__main__":
    main(["--model", "Transformer", "--lr", "5"])
