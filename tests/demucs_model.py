"""A small but real Demucs model for tests, saved the way Demucs' pretrained models are.

`build_small_htdemucs(folder)` writes `<sig>-<checksum8>.th` (a package with
'klass', 'args', 'kwargs', 'state', saved by Demucs' own `save_with_checksum`)
and `<name>.yaml` listing `models: [<sig>]` into `folder`: the layout Demucs'
`LocalRepo` + `BagOnlyRepo` read, so `load_model(SeparationConfig(name=...,
model_dir=folder))` goes through exactly the production path. Nothing is patched.

The architecture is the real `HTDemucs` shrunk where it does not slow things
down (`depth` and `nfft` stay at their defaults: smaller ones make it slower).
Weights are random; tests check plumbing, not separation quality.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import yaml
from demucs.htdemucs import HTDemucs
from demucs.states import get_state, save_with_checksum

SMALL_NAME = "tiny_htdemucs"
SMALL_SIGNATURE = "5ma11e57"
SOURCES = ["drums", "bass", "other", "vocals"]
SMALL_KWARGS: dict[str, Any] = {
    "sources": SOURCES,
    "channels": 4,
    "dconv_comp": 4,
    "dconv_mode": 3,
    "bottom_channels": 16,
    "t_layers": 1,
    "t_heads": 2,
    "segment": Fraction(5),
}
# The released htdemucs (signature 955717e8): the training defaults plus the
# `mmi` grid's dconv_mode=3, bottom_channels=512, t_layers=5, 7.8 s segments.
FULL_HTDEMUCS_KWARGS: dict[str, Any] = {
    "sources": SOURCES,
    "channels": 48,
    "nfft": 4096,
    "depth": 4,
    "dconv_mode": 3,
    "dconv_depth": 2,
    "dconv_comp": 8,
    "bottom_channels": 512,
    "t_layers": 5,
    "t_heads": 8,
    "t_dropout": 0.02,
    "segment": Fraction(39, 5),
}


def save_demucs_model(
    model: torch.nn.Module, folder: Path, *, name: str, signature: str
) -> Path:
    """Save `model` as a one-model bag called `name`; return the `.th` path."""
    folder.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs  # recorded by Demucs' @capture_init
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": get_state(model, quantizer=None),
    }
    # serialize_model would add 'training_args' via omegaconf, which the loader ignores.
    save_with_checksum(package, folder / f"{signature}.th")
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"models": [signature]}))
    (weights,) = folder.glob(f"{signature}-*.th")
    return weights


def build_htdemucs(
    folder: Path, *, name: str, signature: str, kwargs: dict[str, Any], seed: int = 0
) -> Path:
    torch.manual_seed(seed)
    model = HTDemucs(**kwargs)
    return save_demucs_model(model, folder, name=name, signature=signature)


def build_small_htdemucs(
    folder: Path,
    *,
    name: str = SMALL_NAME,
    signature: str = SMALL_SIGNATURE,
    seed: int = 0,
    output_gain: float = 1.0,
) -> Path:
    """`output_gain` scales the last decoder layers, so stems come out that much louder
    (for tests of clipping: random weights alone rarely exceed full scale)."""
    torch.manual_seed(seed)
    model = HTDemucs(**SMALL_KWARGS)
    with torch.no_grad():
        for last in (model.decoder[-1].conv_tr, model.tdecoder[-1].conv_tr):
            last.weight *= output_gain
            last.bias *= output_gain
    return save_demucs_model(model, folder, name=name, signature=signature)
