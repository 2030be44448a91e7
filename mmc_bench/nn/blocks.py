"""Network building blocks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "sigmoid": nn.Sigmoid,
    "none": nn.Identity,
}


def mlp(
    in_dim: int,
    layers: list[int],
    activation: str = "relu",
    batch_norm: bool = False,
    last_activation: bool = True,
    norm_after_activation: bool = False,
    last_batch_norm: bool = True,
) -> nn.Sequential:
    """Linear layers of the given widths, each followed by [BN and] the activation (the last one optionally
    not); ``norm_after_activation`` puts BN after the activation, ``last_batch_norm=False`` leaves the last
    layer without BN (DM2C's code does both)."""
    modules: list[nn.Module] = []
    for i, width in enumerate(layers):
        last = i == len(layers) - 1
        modules.append(nn.Linear(in_dim, width))
        if not last or last_activation:
            pair = [nn.BatchNorm1d(width)] if batch_norm and (last_batch_norm or not last) else []
            pair.append(ACTIVATIONS[activation]())
            modules += pair[::-1] if norm_after_activation else pair
        in_dim = width
    return nn.Sequential(*modules)


class ConvEncoder(nn.Module):
    """conv5x5-32-ReLU, pool2, conv5x5-64-ReLU, pool2, fc -> BN -> ReLU (EAMC's MNIST encoder)."""

    def __init__(self, image_shape: list[int], out_dim: int = 500):
        super().__init__()
        channels, height, width = image_shape
        self.image_shape = tuple(image_shape)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, channels, height, width)).numel()
        self.head = nn.Sequential(nn.Linear(flat, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.image_shape)).flatten(1))


def he_init(module: nn.Module) -> None:
    """He (kaiming-normal) weights on every Linear and Conv layer; biases keep PyTorch's default."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)


class Autoencoder(nn.Module):
    """Encoder in -> layers (ReLU between, linear code) and the mirrored decoder back to in (linear output)."""

    def __init__(self, in_dim: int, layers: list[int]):
        super().__init__()
        self.encoder = mlp(in_dim, layers, last_activation=False)
        self.decoder = mlp(layers[-1], [*reversed(layers[:-1]), in_dim], last_activation=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(code, reconstruction)"""
        code = self.encoder(x)
        return code, self.decoder(code)
