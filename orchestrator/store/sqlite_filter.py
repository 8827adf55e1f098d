"""Translation of a `runs.RunFilter` into an SQL condition on the `runs` table."""

from __future__ import annotations

from orchestrator import runs

SqlParam = int | str


def filter_to_sql(run_filter: runs.RunFilter) -> tuple[str, list[SqlParam]]:
    """An SQL boolean expression with `?` placeholders, and its parameters ("1" if empty)."""
    clauses: list[str] = []
    params: list[SqlParam] = []
    for condition in run_filter.conditions:
        clause, condition_params = _condition_to_sql(condition)
        clauses.append(clause)
        params.extend(condition_params)
    return (" AND ".join(clauses) or "1"), params


def _condition_to_sql(condition: runs.Condition) -> tuple[str, list[SqlParam]]:
    op = condition.op.value
    if isinstance(condition, runs.StateCondition):
        return f"state {op} ?", [condition.state]
    if isinstance(condition, runs.DefinitionCondition):
        return f"workflow_definition {op} ?", [condition.definition]
    if isinstance(condition, runs.LabelCondition):
        # The key is restricted to [A-Za-z0-9_-] by the parser, so quoting it is enough.
        path = f'$."{condition.key}"'
        # `!=` also matches runs without the label: IS NOT treats NULL as a value.
        comparison = "=" if condition.op is runs.Operator.EQ else "IS NOT"
        return f"json_extract(labels, ?) {comparison} ?", [path, condition.value]
    assert isinstance(condition, runs.CreateTimeCondition)
    return f"create_time_us {op} ?", [condition.time_us]
