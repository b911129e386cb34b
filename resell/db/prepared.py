"""Prepared statements for the hot path: a Core statement compiled once per dialect, run on the driver.

Every merchant call pays for authentication, and most of them for a few indexed reads. Through
SQLAlchemy's execution machinery each statement costs 100-300 µs of CPU here (the expression, its
cache key, the execution context, the result metadata), about ten times what SQLite needs to answer
it. A `Prepared` statement is written in Core like any other, with `bindparam` placeholders, but it
is compiled once per dialect and executed on the connection's DBAPI cursor, inside the transaction
the caller already holds. Values still go through the column types' bind and result processors, so
rows read back exactly as they do through `conn.execute` (tz-aware timestamps, JSON, Decimals).

Use it where a profile shows the statement; everything else stays plain `conn.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class PreparedRow(tuple):  # type: ignore[type-arg]
    """A row read by a prepared statement: a tuple whose columns are also attributes (like Core's Row)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


def _row_class(fields: list[str]) -> type[PreparedRow]:
    """Each column an attribute read in C (`itemgetter`): a Python `__getattr__` cost ten times as
    much, and a createOrder reads some forty. A name the tuple already has (`count`, `index`) stays
    the tuple's; the last column of a repeated name wins."""
    columns = {field: property(itemgetter(i)) for i, field in enumerate(fields) if not hasattr(PreparedRow, field)}
    return type("Row", (PreparedRow,), {"__slots__": (), "_fields": tuple(fields), **columns})


class _Plan:
    """One statement compiled for one dialect: its SQL, its parameter order and its value converters."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, defaults: Mapping[str, Any]):
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.positional = dialect.positional
        self.names = list(compiled.positiontup or []) if dialect.positional else list(compiled.binds)
        # (name, converter, whether the caller must give it, the value if not: a default of the
        # statement's, or the value written into it, such as status == "available")
        self.binds: list[tuple[str, Callable[[Any], Any] | None, bool, Any]] = [
            (
                name,
                param.type._cached_bind_processor(dialect),
                param.required and name not in defaults,
                defaults.get(name, param.effective_value),
            )
            for name, param in ((name, compiled.binds[name]) for name in self.names)
        ]
        self.known = {name for name, *_ in self.binds}
        self.dialect = dialect
        self.result_types = [entry.type for entry in compiled._result_columns]
        self.fields = [entry.keyname for entry in compiled._result_columns]
        self.row_class = _row_class(self.fields) if self.fields else None
        self.converters: list[tuple[int, Callable[[Any], Any]]] | None = None

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if not self.known.issuperset(values):
            raise KeyError(f"unknown statement parameters {sorted(set(values) - self.known)}")
        converted = []  # in the statement's order (a name it uses twice is there twice, when positional)
        for name, process, required, fixed in self.binds:
            if name in values:
                value = values[name]
            elif required:
                raise KeyError(f"missing statement parameter {name!r}")
            else:
                value = fixed
            converted.append(process(value) if process is not None and value is not None else value)
        return tuple(converted) if self.positional else dict(zip(self.names, converted, strict=True))

    def processors(self, cursor: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """The result converters, as (column index, converter) for the columns that have one, resolved
        on the first execution (PostgreSQL's need the column's type code). The cursor's description
        is read only then: psycopg builds it anew on every access."""
        if self.converters is None:
            self.converters = [
                (index, process)
                for index, (type_, column) in enumerate(zip(self.result_types, cursor.description, strict=True))
                if (process := type_._cached_result_processor(self.dialect, column[1])) is not None
            ]
        return self.converters


class Prepared:
    """A Core statement with `bindparam` placeholders, run by name: `STMT.first(conn, ref=1)`."""

    def __init__(self, statement: ClauseElement, defaults: Mapping[str, Any] | None = None):
        self.statement = statement
        self.defaults = dict(defaults or {})  # values of parameters the caller may leave out
        self._plans: dict[str, _Plan] = {}

    def _plan(self, conn: Connection) -> _Plan:
        dialect = conn.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _Plan(self.statement, dialect, self.defaults)
        return plan

    def _execute(self, conn: Connection, values: Mapping[str, Any]) -> tuple[_Plan, Any]:
        """The statement run on a cursor of the connection's driver, and that cursor (the caller closes it)."""
        plan = self._plan(conn)
        parameters = plan.parameters(values)
        # the driver's own connection (what `driver_connection` names, through three properties, for the
        # synchronous drivers resell uses)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(plan.sql, parameters)
        except conn.dialect.loaded_dbapi.Error as error:
            cursor.close()
            # the SQLAlchemy exception conn.execute would raise (IntegrityError, OperationalError ...)
            raise exc.DBAPIError.instance(plan.sql, parameters, error, conn.dialect.loaded_dbapi.Error) from error
        return plan, cursor

    def _rows(self, conn: Connection, values: Mapping[str, Any]) -> list[Any]:
        """What `all` returns; `first` and `scalar` call it straight (a hot read pays no extra call)."""
        plan, cursor = self._execute(conn, values)
        try:
            raw = cursor.fetchall()
            if not raw:
                return []
            processors = plan.processors(cursor)
        finally:
            cursor.close()
        make = plan.row_class
        assert make is not None, "not a SELECT"
        if not processors:
            return [make(r) for r in raw]
        rows = []
        for r in raw:  # only the columns with a converter are touched (an order row has ~40 columns)
            row = list(r)
            for index, convert in processors:
                if row[index] is not None:
                    row[index] = convert(row[index])
            rows.append(make(row))
        return rows

    def all(self, conn: Connection, **values: Any) -> list[Any]:
        return self._rows(conn, values)

    def first(self, conn: Connection, **values: Any) -> Any:
        rows = self._rows(conn, values)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, **values: Any) -> Any:
        rows = self._rows(conn, values)
        return rows[0][0] if rows else None

    def execute(self, conn: Connection, **values: Any) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it touched."""
        _, cursor = self._execute(conn, values)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()


def insert(table: Table) -> Prepared:
    """An INSERT of every column but the generated key, returning that key. A column the caller does
    not name gets its Python-side default, or NULL (as `table.insert()` would give it)."""
    columns = [column for column in table.columns if column is not table.autoincrement_column]
    defaults = {
        column.name: getattr(column.default, "arg", None)
        if column.default is not None and column.default.is_scalar
        else None
        for column in columns
    }
    # plain placeholders: a bindparam holding None would be compiled as a literal NULL
    values = {column.name: bindparam(column.name, type_=column.type) for column in columns}
    return Prepared(table.insert().values(values).returning(*table.primary_key.columns), defaults)
