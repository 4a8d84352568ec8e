"""The ETL jobs grid's columns: every step's stages in one order (a stage only some steps have,
like GitHub's `nested`, right after the stage it follows there)."""

from conveyor.etl_jobs.model import merged_stage_order


def test_a_stage_only_one_step_has_goes_where_that_step_puts_it() -> None:
    github = [["extraction", "transform", "embedding"], ["extraction", "nested", "transform", "embedding"]]
    assert merged_stage_order(github) == ["extraction", "nested", "transform", "embedding"]
    assert merged_stage_order([["a", "b"], ["c", "b"], ["a", "d"]]) == ["c", "a", "d", "b"]
    assert merged_stage_order([]) == []
