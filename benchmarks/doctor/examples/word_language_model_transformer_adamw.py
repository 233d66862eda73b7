"""https://github.com/pytorch/examples/blob/main/word_language_model/README.md
pytorch/examples word_language_model, its README's AdamW Transformer run:
``python main.py --epochs 6 --model Transformer --use-optimizer --lr 0.001``.

Changed to run offline: word_language_model.py's offline corpus (CPython's bundled help
topics) and 2 epochs (was 6); everything else is that script's. Unlike the default runs,
whose update is a hand-written ``p.data.add_`` with no optimizer object, this one steps a
``torch.optim.AdamW``, so the doctor's optimizer hooks see its steps.
"""

from __future__ import annotations

from word_language_model import main

if __name__ == "__main__":
    main(["--model", "Transformer", "--use-optimizer", "--lr", "0.001"])
