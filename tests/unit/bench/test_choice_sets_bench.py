"""`structserve bench choice-sets`: the exactness check's prompts are distinct and repeatable."""

from __future__ import annotations

from bench.choice_sets_serving import random_prompt


def test_random_prompts_differ_and_repeat_by_index() -> None:
    prompts = [random_prompt(i) for i in range(10_000)]
    assert len(set(prompts)) >= 9_990
    assert prompts[123] == random_prompt(123)
    assert all(prompt.strip() and "{" not in prompt for prompt in prompts)
