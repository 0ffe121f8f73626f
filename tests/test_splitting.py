"""Groups to train / validation / test: deterministic, stratified, every group in one split."""

import pytest

from cineseq_assets.splitting import POSITION, assign_groups


def _strata(n: int = 100) -> dict[str, int]:
    return {f"film{i:03d}": i % 4 for i in range(n)}


def test_seeded_split_is_deterministic_and_cut_per_stratum():
    strata = _strata()
    split = assign_groups(strata, {"test": 0.2, "validation": 0.2}, seed=7)
    assert split == assign_groups(strata, {"test": 0.2, "validation": 0.2}, seed=7)
    assert split != assign_groups(strata, {"test": 0.2, "validation": 0.2}, seed=8)
    assert set(split) == set(strata)
    for stratum in range(4):  # 25 groups per stratum: round(5.0) to each held-out split
        names = [split[g] for g, s in strata.items() if s == stratum]
        assert names.count("test") == 5 and names.count("validation") == 5 and names.count("train") == 15


def test_hash_order_does_not_depend_on_the_input_order_or_on_other_groups():
    strata = _strata()
    split = assign_groups(strata, {"test": 0.15, "val": 0.15})
    assert split == assign_groups(dict(reversed(strata.items())), {"test": 0.15, "val": 0.15})
    moved = assign_groups(strata | {"extra": 9}, {"test": 0.15, "val": 0.15})
    assert {g: moved[g] for g in strata} == split


def test_position_cut_holds_one_out_of_a_small_stratum_but_never_a_lone_group():
    strata = {"video:a": "video", "video:b": "video", "photo:only": "photo"}
    split = assign_groups(strata, {"test": 0.15, "val": 0.15}, cut=POSITION)
    assert sorted(split[g] for g in ("video:a", "video:b")) == ["train", "val"]
    assert split["photo:only"] == "train"
    assert set(assign_groups(strata, {"test": 0.15, "val": 0.15}).values()) == {"train"}  # counts round to zero


def test_an_unknown_cut_is_refused():
    with pytest.raises(ValueError, match="unknown cut"):
        assign_groups(_strata(), {"test": 0.1}, cut="random")
