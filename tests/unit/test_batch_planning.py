from hypothesis import given
from hypothesis import strategies as st

from ragserve.embed.batch_planning import plan_batches


@given(
    st.lists(st.integers(1, 600), max_size=300),
    st.integers(64, 8192),
    st.integers(1, 64),
)
def test_batches_cover_every_text_once_within_budget(
    lengths: list[int], budget: int, max_batch: int
) -> None:
    batches = plan_batches(lengths, budget, max_batch)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= max_batch
        if len(batch) > 1:  # a single over-long text may exceed the budget alone
            assert max(lengths[i] for i in batch) * len(batch) <= budget


def test_similar_lengths_are_batched_together() -> None:
    lengths = [5, 300, 6, 290, 4, 310]
    batches = plan_batches(lengths, token_budget=1000, max_batch=3)
    assert [sorted(b) for b in batches] == [[1, 3, 5], [0, 2, 4]]
