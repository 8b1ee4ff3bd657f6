"""The sampler's position: sharded orders cover the epoch once, and a loaded position continues it exactly."""

import pytest

from bilight.data.sampler import GroupedShuffleSampler
from bilight.testing import tiny_datamodule

LENGTHS = [(7 * i) % 23 + 1 for i in range(30)]


def _batches(sampler: GroupedShuffleSampler, batch_size: int) -> list[list[int]]:
    items = list(sampler)
    return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


def test_order_is_a_pure_function_of_seed_and_epoch() -> None:
    a, b = GroupedShuffleSampler(LENGTHS, seed=3, window=8), GroupedShuffleSampler(LENGTHS, seed=3, window=8)
    assert list(a) == list(b)
    assert a.order(0) != a.order(1)
    assert sorted(a.order(0)) == list(range(30))


def test_ranks_split_one_global_order() -> None:
    ranks = [GroupedShuffleSampler(LENGTHS, seed=1, window=4, num_replicas=4, rank=r) for r in range(4)]
    shards = [list(s) for s in ranks]
    assert all(len(s) == len(ranks[0]) == 8 for s in shards)  # 30 rows padded to 32
    merged = [shards[r][i] for i in range(8) for r in range(4)]
    assert merged == ranks[0].order(0)
    assert set(merged) == set(range(30))


@pytest.mark.parametrize(("world", "done"), [(1, 3), (2, 2), (2, 0)])
def test_loaded_position_continues_without_replay_or_skip(world: int, done: int) -> None:
    batch = 3
    full = [_batches(GroupedShuffleSampler(LENGTHS, seed=5, num_replicas=world, rank=r), batch) for r in range(world)]
    state = {"epoch": 0, "consumed": done * batch * world, "seed": 5}
    for r in range(world):
        resumed = GroupedShuffleSampler(LENGTHS, seed=5, num_replicas=world, rank=r)
        resumed.load_state_dict(state)
        assert _batches(resumed, batch) == full[r][done:]


def test_a_finished_epoch_resumes_at_the_next_one() -> None:
    sampler = GroupedShuffleSampler(LENGTHS, seed=2)
    sampler.load_state_dict({"epoch": 4, "consumed": 30, "seed": 2})
    assert sampler.epoch == 5
    assert list(sampler) == sampler.order(5)


def test_the_checkpointed_epoch_wins_over_a_lagging_caller() -> None:
    sampler = GroupedShuffleSampler(LENGTHS, seed=2)
    sampler.load_state_dict({"epoch": 1, "consumed": 30, "seed": 2})  # epoch 1 finished: continue with epoch 2
    sampler.set_epoch(1)  # Lightning, one epoch behind after a second resume at an epoch boundary
    assert list(sampler) == sampler.order(2)
    sampler.set_epoch(2)
    assert sampler.epoch == 3


def test_seed_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"data\.seed"):
        GroupedShuffleSampler(LENGTHS, seed=2).load_state_dict({"epoch": 0, "consumed": 0, "seed": 9})


def test_datamodule_round_trips_the_position_outside_a_trainer() -> None:
    dm = tiny_datamodule()
    dm.setup("fit")
    loader = iter(dm.train_dataloader())
    first = [next(loader)["input_ids"] for _ in range(3)]
    state = dm.state_dict()
    assert state["train_sampler"]["consumed"] == 12
    rest = [b["input_ids"] for b in loader]
    fresh = tiny_datamodule()
    fresh.setup("fit")
    fresh.load_state_dict(state)
    resumed = [b["input_ids"] for b in fresh.train_dataloader()]
    assert len(first) + len(resumed) == 8
    assert all((a == b).all() for a, b in zip(resumed, rest, strict=True))
