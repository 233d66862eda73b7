"""https://github.com/pytorch/examples/blob/main/super_resolution/README.md
pytorch/examples super_resolution, its README's run:
``python main.py --upscale_factor 3 --batchSize 4 --testBatchSize 100 --nEpochs 30 --lr 0.001``.

Changed to run offline: super_resolution.py's offline crops (scikit-learn's two bundled
photos) and 1 epoch (was 30: 360 steps at batch 4); everything else is that script's.
"""

from __future__ import annotations

from super_resolution import main

if __name__ == "__main__":
    main(batch_size=4, test_batch_size=100, n_epochs=1, lr=0.001)
