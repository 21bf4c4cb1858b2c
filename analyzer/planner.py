"""The key rules: from one parsed SELECT/INSERT/UPDATE/DELETE to a plan.

Rules (see docs/analyzer.md for the full table):

- Reads: every stored table a statement names is read, whole-table, unless a
  single-table SELECT (or the WHERE of an UPDATE/DELETE) pins every key column
  with `=`, `==`, `IS` or `IN (list)` terms of literals or parameters in a
  conjunction; views read their base tables whole; CTE names are not tables.
- Writes: UPDATE/DELETE write what their WHERE pins, else the whole table;
  an UPDATE that sets a key column, the rowid, or a column of another unique
  constraint writes the whole table (the checks read other rows). INSERT
  writes one key per VALUES row when every key value is a literal or a
  parameter, the key is the rowid or a WITHOUT ROWID primary key, the table has
  no other unique constraint and no AUTOINCREMENT; otherwise the whole table.
  AUTOINCREMENT also writes the whole `sqlite_sequence`.
- Effects SQLite adds: foreign-key checks read the parent; deleting or
  re-keying a parent reads its children and, with CASCADE / SET NULL /
  SET DEFAULT, writes them (recursively); REPLACE may delete rows; any trigger
  that fires makes the statement global, as do writes to views (INSTEAD OF
  triggers) and to virtual tables.
"""

from __future__ import annotations

import itertools

from sqlglot import exp

from analyzer.errors import NonDeterministicError, NotReplicableError, UnsupportedError
from analyzer.functions import Findings, check_functions
from analyzer.plan import KeyTemplate, StatementPlan
from analyzer.schema import ROWID, ForeignKey, Schema, Table, default_problem_or_notes
from analyzer.sqltext import PreparedText
from analyzer.tokens import fold
from analyzer.tree import (
    SCHEMA_TABLES,
    TEMP_SCHEMA_TABLES,
    Const,
    Param,
    TableRef,
    column_name,
    conjuncts,
    cte_names,
    table_refs,
    value_source,
)

_MAX_POINT_KEYS = 256  # beyond this many keys in one template, a whole-table key is cheaper
_READ_ROOTS = (exp.Select, exp.SetOperation, exp.Values)


def plan_dml(prepared: PreparedText, tree: exp.Expr, schema: Schema) -> StatementPlan:
    return _Planner(prepared, tree, schema).plan()


class _Planner:
    def __init__(self, prepared: PreparedText, tree: exp.Expr, schema: Schema) -> None:
        self.prepared = prepared
        self.tree = tree
        self.schema = schema
        self.findings = Findings()
        self.reads: list[KeyTemplate] = []
        self.writes: list[KeyTemplate] = []
        self.global_reasons: list[str] = []
        self.unknown: list[str] = []
        self.ctes = cte_names(tree)
        self.point_reads: dict[int, KeyTemplate] = {}
        self.handled: set[int] = set()  # table nodes whose reads a write rule already added

    def plan(self) -> StatementPlan:
        check_functions(self.tree, self.findings)
        root, verb = self.tree, self.prepared.verb
        if isinstance(root, exp.Insert) and verb in ("INSERT", "REPLACE"):
            self._insert(root)
        elif isinstance(root, exp.Update) and verb == "UPDATE":
            self._update(root)
        elif isinstance(root, exp.Delete) and verb == "DELETE":
            self._delete(root)
        elif not (isinstance(root, _READ_ROOTS) and verb in ("SELECT", "VALUES")):
            raise UnsupportedError(
                "unsupported_statement",
                f"the SQL parser read this {verb} statement as {type(root).__name__}",
            )
        for select in root.find_all(exp.Select):
            self._prove_point_select(select)
        for ref in table_refs(root):
            if id(ref.node) not in self.handled:
                self._read(ref)
        notes = list(self.findings.notes)
        notes.extend(f"interferes with everything: {r}" for r in self.global_reasons)
        return StatementPlan(
            kind="read" if isinstance(root, _READ_ROOTS) else "write",
            params=self.prepared.params,
            reads=tuple(dict.fromkeys(self.reads)),
            writes=tuple(dict.fromkeys(self.writes)),
            is_global=bool(self.global_reasons),
            notes=tuple(dict.fromkeys(notes)),
            needs_prior_write=self.findings.needs_prior_write,
            unknown_tables=tuple(dict.fromkeys(self.unknown)),
            modifier_params=tuple(sorted(self.findings.modifier_params)),
        )

    # -- reads -------------------------------------------------------------

    def _read(self, ref: TableRef) -> None:
        name = ref.name
        table = self.schema.tables.get(name)
        if table is not None:
            self._check_usable(table, "reads")
            self.reads.append(self.point_reads.get(id(ref.node)) or KeyTemplate.whole_table(name))
            return
        view = self.schema.views.get(name)
        if view is not None:
            if view.problem is not None:
                raise view.problem.error()
            self.findings.notes.extend(view.notes)
            for base in sorted(view.base_tables):
                base_table = self.schema.tables.get(base)
                if base_table is not None:
                    self._check_usable(base_table, "reads")
                self.reads.append(KeyTemplate.whole_table(base))
            return
        if name in self.ctes:
            return
        if name in SCHEMA_TABLES:
            self.reads.append(KeyTemplate.whole_table("sqlite_schema"))
        elif name in TEMP_SCHEMA_TABLES:
            raise _temp_schema_error(name)
        else:
            self.unknown.append(name)

    def _check_usable(self, table: Table, verb: str) -> None:
        if table.problem is not None:
            raise table.problem.error()
        if table.virtual:
            self.global_reasons.append(f"{verb} virtual table {table.name}")

    def _prove_point_select(self, select: exp.Select) -> None:
        from_ = select.args.get("from_")
        if from_ is None or select.args.get("joins"):
            return
        node = from_.this
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            return
        table = self.schema.tables.get(fold(node.name))
        if table is None or fold(node.name) in self.ctes:
            return
        template = self._key_template(table, _aliases(node), select.args.get("where"))
        if template is not None:
            self.point_reads[id(node)] = template

    def _key_template(
        self, table: Table, aliases: frozenset[str], where: exp.Expr | None
    ) -> KeyTemplate | None:
        """Point keys when a conjunction in `where` pins every key column."""
        if table.key is None or self.prepared.unary_plus:
            return None
        choices: list[list[Param | Const] | None] = [None] * len(table.key)
        for term in conjuncts(where):
            found = _key_term(table, aliases, term)
            if found is not None:
                position, sources = found
                current = choices[position]
                if current is None or len(sources) < len(current):
                    choices[position] = sources
        if any(c is None for c in choices):
            return None
        count = 1
        for c in choices:
            count *= len(c)  # type: ignore[arg-type]
        if count > _MAX_POINT_KEYS:
            return None
        rows = tuple(itertools.product(*choices))  # type: ignore[arg-type]
        return KeyTemplate(table.name, table.key, rows)

    # -- writes ------------------------------------------------------------

    def _target(self, node: exp.Expr, verb: str) -> Table | None:
        """The table a write names; None when the write is global or unknown."""
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            raise UnsupportedError(
                "unsupported_statement", f"cannot tell which table {verb} writes"
            )
        self.handled.add(id(node))
        refs = [r for r in table_refs(node) if r.node is node]
        name = refs[0].name  # table_refs checked the schema qualifier
        table = self.schema.tables.get(name)
        if table is not None:
            if table.problem is not None:
                raise table.problem.error()
            if table.virtual:
                self.global_reasons.append(f"{verb} virtual table {name}")
                return None
            return table
        if name in self.schema.views:
            self._fire_triggers(name, {"insert", "update", "delete"})
            self.global_reasons.append(f"{verb} view {name} (INSTEAD OF triggers)")
            return None
        if name in SCHEMA_TABLES:
            raise UnsupportedError("unsupported_statement", f"{verb} the schema table {name}")
        if name in TEMP_SCHEMA_TABLES:
            raise _temp_schema_error(name)
        self.unknown.append(name)
        return None

    def _update(self, node: exp.Update) -> None:
        _refuse_unordered_limit(node, "UPDATE")
        table = self._target(node.this, "updates")
        if table is None:
            return
        set_columns = set()
        for assignment in node.expressions:
            target = assignment.this
            for column in target.expressions if isinstance(target, exp.Tuple) else [target]:
                set_columns.add(table.canonical_column(fold(column.name)))
        if node.args.get("from_") or node.args.get("joins"):
            template = None
        else:
            template = self._key_template(table, _aliases(node.this), node.args.get("where"))
        whole = KeyTemplate.whole_table(table.name)
        self.reads.append(template or whole)
        rekeys = bool(set_columns & (table.key_names | {ROWID}))
        rekeys = rekeys or bool(set_columns & set(table.primary_key))
        unique = any(set_columns & u for u in table.unique_sets)
        self.writes.append(whole if template is None or rekeys or unique else template)
        update_or = self.prepared.update_or
        replace = update_or == "REPLACE" or (update_or is None and table.replace_on_conflict)
        if replace:
            self._use_defaults(table, [c.name for c in table.columns])
            self._effects(table, "delete", None)
        self._effects(table, "update", frozenset(set_columns))

    def _delete(self, node: exp.Delete) -> None:
        _refuse_unordered_limit(node, "DELETE")
        table = self._target(node.this, "deletes from")
        if table is None:
            return
        template = None
        if not node.args.get("using"):
            template = self._key_template(table, _aliases(node.this), node.args.get("where"))
        template = template or KeyTemplate.whole_table(table.name)
        self.reads.append(template)
        self.writes.append(template)
        self._effects(table, "delete", None)

    def _insert(self, node: exp.Insert) -> None:
        target = node.this
        named_columns = None
        if isinstance(target, exp.Schema):
            named_columns = [fold(i.name) for i in target.expressions]
            target = target.this
        table = self._target(target, "inserts into")
        if table is None:
            return
        mode = (node.args.get("alternative") or "").upper() or None
        replace = mode == "REPLACE" or (mode is None and table.replace_on_conflict)
        if named_columns is None:
            named_columns = [c.name for c in table.columns if not c.generated]
        columns = [table.canonical_column(c) for c in named_columns]
        source = node.expression
        rows: list[tuple[exp.Expr, ...]] | None = None
        if isinstance(source, exp.Values):
            rows = [
                tuple(t.expressions) if isinstance(t, exp.Tuple) else (t,)
                for t in source.expressions
            ]
        elif source is None and node.args.get("default"):
            columns, rows = [], [()]
        omitted = [c.name for c in table.columns if not c.generated and c.name not in columns]
        self._use_defaults(table, [c.name for c in table.columns] if replace else omitted)

        write = self._insert_keys(table, columns, rows)
        conflict = node.args.get("conflict")
        updated: frozenset[str] | None = None
        if conflict is not None:
            write, updated = self._upsert(table, conflict, write)
        if table.autoincrement:
            self.writes.append(KeyTemplate.whole_table("sqlite_sequence"))
        self.writes.append(write or KeyTemplate.whole_table(table.name))
        self._parent_reads(table, columns, rows)
        self._effects(table, "insert", None, check_parents=False)
        if updated is not None:
            self._effects(table, "update", updated)
        if replace:
            self._effects(table, "delete", None)

    def _insert_keys(
        self, table: Table, columns: list[str], rows: list[tuple[exp.Expr, ...]] | None
    ) -> KeyTemplate | None:
        if rows is None or not table.point_insertable or self.prepared.unary_plus:
            return None
        if len(set(columns)) != len(columns):
            return None  # SQLite rejects it, or two names set the same rowid
        assert table.key is not None
        positions = []
        for key_column in table.key:
            if key_column.name not in columns:
                return None  # the rowid (or a default) comes from table state
            positions.append(columns.index(key_column.name))
        template_rows = []
        for row in rows:
            if len(row) != len(columns):
                return None
            sources = [value_source(row[p]) for p in positions]
            if any(s is None for s in sources):
                return None
            template_rows.append(tuple(sources))
        if len(template_rows) > _MAX_POINT_KEYS:
            return None
        return KeyTemplate(table.name, table.key, tuple(template_rows))  # type: ignore[arg-type]

    def _upsert(
        self, table: Table, conflict: exp.OnConflict, write: KeyTemplate | None
    ) -> tuple[KeyTemplate | None, frozenset[str] | None]:
        if conflict.args.get("duplicate"):
            raise UnsupportedError("unsupported_statement", "ON DUPLICATE KEY is not SQLite")
        targets = {
            table.canonical_column(fold(o.this.name)) if isinstance(o.this, exp.Column) else ""
            for o in conflict.args.get("conflict_keys") or []
        }
        if targets and targets != table.key_names:
            write = None  # the conflict target is not the key
        if conflict.args.get("index_predicate") is not None:
            write = None
        action = conflict.args.get("action")
        if action is None or "UPDATE" not in action.name.upper():
            return write, None
        updated = set()
        for assignment in conflict.expressions:
            lhs = assignment.this
            for column in lhs.expressions if isinstance(lhs, exp.Tuple) else [lhs]:
                updated.add(table.canonical_column(fold(column.name)))
        if updated & (table.key_names | {ROWID}) or any(updated & u for u in table.unique_sets):
            write = None
        return write, frozenset(updated)

    def _parent_reads(
        self, table: Table, columns: list[str], rows: list[tuple[exp.Expr, ...]] | None
    ) -> None:
        """Foreign-key checks of an INSERT: point reads of the parent when the
        child values are literals or parameters and reference the parent's key."""
        for fk in table.foreign_keys:
            parent = self.schema.tables.get(fk.parent)
            template = None
            if parent is not None and parent.key is not None and rows is not None:
                template = _parent_template(parent, fk.parent_columns, fk.columns, columns, rows)
            self.reads.append(template or KeyTemplate.whole_table(fk.parent))

    # -- effects SQLite adds -------------------------------------------------

    def _use_defaults(self, table: Table, column_names: list[str]) -> None:
        problem, notes = default_problem_or_notes(table, column_names)
        if problem is not None:
            raise problem.error()
        self.findings.notes.extend(notes)

    def _fire_triggers(self, table_name: str, events: set[str]) -> None:
        for trigger in self.schema.triggers_by_table.get(table_name, ()):
            if trigger.events & events:
                if trigger.problem is not None:
                    raise trigger.problem.error()
                self.findings.notes.extend(trigger.notes)
                self.global_reasons.append(
                    f"trigger {trigger.name} fires on {'/'.join(sorted(trigger.events))} "
                    f"of {table_name}"
                )

    def _effects(
        self,
        table: Table,
        event: str,
        columns: frozenset[str] | None,
        *,
        check_parents: bool = True,
        via: ForeignKey | None = None,
        seen: set | None = None,
    ) -> None:
        """Triggers and foreign-key actions of `event` on `table`; `columns` are
        the columns an update sets (None: possibly all); `via` is the foreign key
        whose action caused this event (its parent rows are already written)."""
        seen = set() if seen is None else seen
        seen.add((table.name, event, columns))
        self._fire_triggers(table.name, {event})
        for fk in table.foreign_keys:
            if fk is via:
                continue
            # Deleting a child row looks its parent up too (SQLite keeps a count of
            # outstanding violations for deferred constraints).
            if event == "delete" or (
                check_parents and (columns is None or columns & set(fk.columns))
            ):
                self.reads.append(KeyTemplate.whole_table(fk.parent))
        for fk in self.schema.children.get(table.name, ()):
            referenced = {table.canonical_column(c) for c in fk.parent_columns or table.primary_key}
            if event == "update" and columns is not None and not columns & referenced:
                continue
            # An insert into the parent looks for children waiting for it (deferred
            # constraints); a delete or re-key looks for children it would orphan.
            self.reads.append(KeyTemplate.whole_table(fk.child))
            if event == "insert":
                continue
            action = fk.on_delete if event == "delete" else fk.on_update
            if action not in ("cascade", "set null", "set default"):
                continue
            self.writes.append(KeyTemplate.whole_table(fk.child))
            child = self.schema.tables.get(fk.child)
            if child is None:
                continue
            if child.problem is not None:
                raise child.problem.error()
            if action == "set default":
                self._use_defaults(child, list(fk.columns))
            child_event = "delete" if event == "delete" and action == "cascade" else "update"
            child_columns = None if child_event == "delete" else frozenset(fk.columns)
            if (child.name, child_event, child_columns) not in seen:
                # SET DEFAULT points the child at another parent row: that check stays.
                cause = None if action == "set default" else fk
                self._effects(child, child_event, child_columns, via=cause, seen=seen)


def _aliases(node: exp.Table) -> frozenset[str]:
    """How columns may qualify the table: by its alias if it has one, else its name."""
    alias = node.alias
    return frozenset({fold(alias)}) if alias else frozenset({fold(node.name)})


def _key_term(
    table: Table, aliases: frozenset[str], term: exp.Expr
) -> tuple[int, list[Param | Const]] | None:
    if isinstance(term, (exp.EQ, exp.NullSafeEQ)):
        for column_side, value_side in ((term.this, term.expression), (term.expression, term.this)):
            name = column_name(column_side, aliases)
            position = None if name is None else table.key_position(name)
            source = value_source(value_side)
            if position is not None and source is not None:
                return position, [source]
        return None
    if isinstance(term, exp.In) and not term.args.get("query") and not term.args.get("field"):
        name = column_name(term.this, aliases)
        position = None if name is None else table.key_position(name)
        sources = [value_source(e) for e in term.expressions]
        if position is None or any(s is None for s in sources):
            return None
        return position, sources  # type: ignore[return-value]
    return None


def _parent_template(
    parent: Table,
    parent_columns: tuple[str, ...] | None,
    child_columns: tuple[str, ...],
    columns: list[str],
    rows: list[tuple[exp.Expr, ...]],
) -> KeyTemplate | None:
    assert parent.key is not None
    referenced = [parent.canonical_column(c) for c in parent_columns or parent.primary_key]
    if len(referenced) != len(child_columns) or sorted(referenced) != sorted(parent.key_names):
        return None
    order = [referenced.index(k.name) for k in parent.key]
    template_rows = []
    for row in rows:
        sources = []
        for i in order:
            if child_columns[i] not in columns or len(row) != len(columns):
                return None
            source = value_source(row[columns.index(child_columns[i])])
            if source is None:
                return None
            sources.append(source)
        template_rows.append(tuple(sources))
    return KeyTemplate(parent.name, parent.key, tuple(template_rows))


def _refuse_unordered_limit(node: exp.Expr, verb: str) -> None:
    if node.args.get("limit") is not None and not node.args.get("order"):
        raise NonDeterministicError(
            "nondeterministic_limit",
            f"{verb} ... LIMIT without ORDER BY picks rows by query plan; add ORDER BY",
        )


def _temp_schema_error(name: str) -> NotReplicableError:
    return NotReplicableError("temp_object", f"{name} describes the connection-local temp schema")
