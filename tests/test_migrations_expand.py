"""The expand/contract rule (docs/operations.md): a migration's ``upgrade`` only adds (tables,
nullable columns or columns with a server default, indexes), so ``internet10 db upgrade`` may run
while the previous version still serves. Removing or changing something is a later release's
migration, once no running version uses it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

VERSIONS = Path(__file__).resolve().parent.parent / "internet10" / "migrations" / "versions"
ADDITIVE = frozenset(
    {"create_table", "add_column", "create_index", "batch_alter_table", "f", "create_foreign_key"}
)
# Before the rule was written (and before any production database), 0003 moved registration
# tokens to their own table and dropped the old columns in the same step: upgrading across it
# needs the older version stopped first.
EXCEPTIONS = {"0003_registration_links_idempotency_records.py"}


def _upgrade_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    [upgrade] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"]
    return [node for node in ast.walk(upgrade) if isinstance(node, ast.Call)]


def _op_name(call: ast.Call) -> str | None:
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ("op", "batch_op")
    ):
        return func.attr
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


MIGRATIONS = sorted(p for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def test_the_migrations_are_found() -> None:
    assert len(MIGRATIONS) >= 7


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name[:4])
def test_each_migration_only_adds(path: Path) -> None:
    if path.name in EXCEPTIONS:
        pytest.skip("written before the expand/contract rule (see EXCEPTIONS)")
    for call in _upgrade_calls(path):
        name = _op_name(call)
        if name is None:
            continue
        assert name in ADDITIVE, f"{path.name}: upgrade() calls {name}: not additive"
        if name == "add_column":
            [column] = call.args
            assert isinstance(column, ast.Call)
            nullable = _keyword(column, "nullable")
            default = _keyword(column, "server_default")
            may_be_null = isinstance(nullable, ast.Constant) and nullable.value is True
            assert may_be_null or default is not None, (
                f"{path.name}: {ast.unparse(column)} is NOT NULL without a server default: "
                "the running version's inserts would fail"
            )


def test_the_rule_would_catch_a_dropped_column(tmp_path: Path) -> None:
    bad = tmp_path / "0099_bad.py"
    bad.write_text(
        "def upgrade():\n"
        "    with op.batch_alter_table('events') as batch_op:\n"
        "        batch_op.drop_column('title')\n"
        "        batch_op.add_column(sa.Column('x', sa.Integer(), nullable=False))\n"
    )
    names = [_op_name(c) for c in _upgrade_calls(bad)]
    assert "drop_column" in names
    assert not {n for n in names if n} <= ADDITIVE
