"""https://github.com/pytorch/examples/blob/main/super_resolution/main.py
pytorch/examples super_resolution: its model.py's sub-pixel CNN (ESPCN, PixelShuffle, orthogonal
init), MSELoss, Adam lr 0.01, batch 64, 2 epochs, PSNR on the test set.

Changed to run offline: the Y channel (YCbCr, as its dataset.py reads it) of the two photos
scikit-learn ships (``load_sample_images``: china.jpg for training, flower.jpg for testing,
427x640 each) instead of the BSDS300 download, cut into 72x72 crops (stride 12 for
training: 1,440 crops; stride 72 for testing: 40) instead of one 255x255 centre crop per
image, each input the crop resized to 24x24 (upscale factor 3) as its data.py does; no
checkpoint saving (``torch.save(model)`` pickles).
"""

from __future__ import annotations

from math import log10

import numpy as np
import torch
import torch.nn as nn
import torch.nn.init as init
import torch.optim as optim
from PIL import Image
from sklearn.datasets import load_sample_images
from torch.utils.data import DataLoader, TensorDataset

upscale_factor, seed = 3, 123


class Net(nn.Module):
    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor**2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))

    def _initialize_weights(self) -> None:
        init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv4.weight)


def crops(path: str, size: int, stride: int) -> TensorDataset:
    """(input, target) pairs: data.py's transforms on crops of one photo's Y channel.

    Target: the ``size`` x ``size`` crop (``ToTensor``: [0, 1]); input: the crop resized to
    ``size // upscale_factor`` (``Resize`` on a PIL image: bilinear with antialiasing).
    """
    y = Image.open(path).convert("YCbCr").split()[0]
    inputs, targets = [], []
    for top in range(0, y.height - size + 1, stride):
        for left in range(0, y.width - size + 1, stride):
            crop = y.crop((left, top, left + size, top + size))
            small = crop.resize((size // upscale_factor,) * 2, Image.Resampling.BILINEAR)
            inputs.append(np.asarray(small, dtype=np.float32) / 255.0)
            targets.append(np.asarray(crop, dtype=np.float32) / 255.0)
    return TensorDataset(
        torch.from_numpy(np.stack(inputs)).unsqueeze(1),
        torch.from_numpy(np.stack(targets)).unsqueeze(1),
    )


def main(
    batch_size: int = 64, test_batch_size: int = 10, n_epochs: int = 2, lr: float = 0.01
) -> None:
    """Train and test; the defaults are main.py's (batch 64, test batch 10, 2 epochs, lr 0.01)."""
    torch.manual_seed(seed)
    china, flower = load_sample_images().filenames
    train_set, test_set = crops(china, 72, 12), crops(flower, 72, 72)
    training_data_loader = DataLoader(dataset=train_set, batch_size=batch_size, shuffle=True)
    testing_data_loader = DataLoader(dataset=test_set, batch_size=test_batch_size, shuffle=False)

    model = Net(upscale_factor=upscale_factor)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)

    def train(epoch: int) -> None:
        epoch_loss = 0.0
        for iteration, batch in enumerate(training_data_loader, 1):
            input, target = batch[0], batch[1]
            optimizer.zero_grad()
            loss = criterion(model(input), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
            print(
                f"===> Epoch[{epoch}]({iteration}/{len(training_data_loader)}): "
                f"Loss: {loss.item():.4f}"
            )
        print(
            f"===> Epoch {epoch} Complete: Avg. Loss: {epoch_loss / len(training_data_loader):.4f}"
        )

    def test() -> None:
        avg_psnr = 0.0
        with torch.no_grad():
            for batch in testing_data_loader:
                input, target = batch[0], batch[1]
                prediction = model(input)
                mse = criterion(prediction, target)
                psnr = 10 * log10(1 / mse.item())
                avg_psnr += psnr
        print(f"===> Avg. PSNR: {avg_psnr / len(testing_data_loader):.4f} dB")

    for epoch in range(1, n_epochs + 1):
        train(epoch)
        test()


if __name__ == "__main__":
    main()
