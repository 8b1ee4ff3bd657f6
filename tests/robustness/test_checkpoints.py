"""Nothing from a file runs as code, and a failed save never damages the previous checkpoint."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest
import torch

import bilight.checkpoint as checkpoint_module
from bilight.checkpoint import AtomicCheckpointIO, read_checkpoint
from bilight.errors import CheckpointError, explain
from bilight.modules.common import load_weights
from bilight.testing import TINY_MODEL, tiny_datamodule, tiny_model
from tests.robustness.helpers import crafted_checkpoint


def test_crafted_init_from_is_refused_before_its_payload_runs(tmp_path: Path) -> None:
    marker = tmp_path / "PAYLOAD_RAN"
    evil = crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    model = tiny_model()
    with pytest.raises(CheckpointError, match=r"model.init_from: .*evil.ckpt was refused: .* could run code"):
        load_weights(model, str(evil))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="was refused"):
        read_checkpoint(str(evil), "--ckpt_path")
    assert not marker.exists()


def test_weights_only_loading_still_reads_real_checkpoints(tmp_path: Path) -> None:
    model = tiny_model()
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 3}, tmp_path / "ok.ckpt")
    assert read_checkpoint(str(tmp_path / "ok.ckpt"), "--ckpt_path")["global_step"] == 3
    fresh = tiny_model(seed=1)
    load_weights(fresh, str(tmp_path / "ok.ckpt"))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True))


def test_no_remote_code_unless_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bilight.modules import SFTModule, common

    seen: list[bool] = []

    def fake_from_pretrained(name: str, **kwargs: object) -> torch.nn.Module:
        seen.append(bool(kwargs.get("trust_remote_code")))
        raise RuntimeError("stop here")

    monkeypatch.setattr(common.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    dm = tiny_datamodule()
    for trust in (False, True):
        with pytest.raises(RuntimeError, match="stop here"):
            SFTModule(tokenizer=dm.tokenizer, name_or_path=str(tmp_path), trust_remote_code=trust, **TINY_MODEL)
    assert seen == [False, True]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_while_saving_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"global_step": 2, "w": torch.ones(100)}, target)
    before = _digest(target)

    def full_disk(obj: object, f: object) -> None:
        f.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    with pytest.raises(CheckpointError) as info:
        io.save_checkpoint({"global_step": 4, "w": torch.zeros(100)}, target)
    assert str(info.value).startswith(
        f"could not write the checkpoint {target}: No space left on device (the previous checkpoint there is intact)"
    )
    assert _digest(target) == before and read_checkpoint(str(target), "x")["global_step"] == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # no temporary file left behind
    assert explain(info.value) == str(info.value)


def test_an_unwritable_folder_while_saving_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(checkpoint_module.Path, "mkdir", refuse)
    with pytest.raises(OSError) as info:
        AtomicCheckpointIO().save_checkpoint({"global_step": 1}, target)
    assert explain(info.value) == f"cannot write {target.parent}: Permission denied; choose a folder you can write to"


def test_a_full_disk_elsewhere_is_a_short_message() -> None:
    err = OSError(errno.ENOSPC, "No space left on device", "runs/sft/x/metrics.csv")
    assert explain(err) == "no space left on the device while writing runs/sft/x/metrics.csv; free space or choose another folder"
