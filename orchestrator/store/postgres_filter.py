"""Translation of a `runs.RunFilter` into an SQL condition on the PostgreSQL `runs` table.

The same semantics as `RunFilter.matches` (and `sqlite_filter`): labels are read from the
`labels` jsonb column, and `labels.k != v` also matches runs without the label.
"""

from __future__ import annotations

from orchestrator import runs

SqlParam = int | str


def filter_to_sql(run_filter: runs.RunFilter, first_param: int) -> tuple[str, list[SqlParam]]:
    """An SQL boolean expression with `$n` placeholders numbered from `first_param`, and
    its parameters ("TRUE" if the filter is empty)."""
    clauses: list[str] = []
    params: list[SqlParam] = []
    for condition in run_filter.conditions:
        clause, values = _condition_to_sql(condition)
        base = first_param + len(params)
        clauses.append(clause.format(*(f"${base + i}" for i in range(len(values)))))
        params.extend(values)
    return (" AND ".join(clauses) or "TRUE"), params


def _condition_to_sql(condition: runs.Condition) -> tuple[str, list[SqlParam]]:
    """A clause with `{0}`, `{1}` for its parameters, and the parameters."""
    op = condition.op.value
    if isinstance(condition, runs.StateCondition):
        return f"state {op} {{0}}::smallint", [condition.state]
    if isinstance(condition, runs.DefinitionCondition):
        return f"workflow_definition {op} {{0}}", [condition.definition]
    if isinstance(condition, runs.LabelCondition):
        # `IS DISTINCT FROM` treats a missing label (NULL) as a value, so `!=` matches it.
        comparison = "=" if condition.op is runs.Operator.EQ else "IS DISTINCT FROM"
        return f"(labels ->> {{0}}) {comparison} {{1}}", [condition.key, condition.value]
    assert isinstance(condition, runs.CreateTimeCondition)
    return f"create_time_us {op} {{0}}::bigint", [condition.time_us]
