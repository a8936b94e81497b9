"""PostgreSQL string semantics on SQLite.

SQLite's LIKE ignores ASCII case and its upper() only knows ASCII; the
emulator follows PostgreSQL (sandbox-fixture.md): contains/startswith are
case-sensitive, icontains compares per-character upper-case forms. These
lookups replace Django's for text fields, through instr() (no wildcards to
escape) and a pg_upper() function registered on every connection.
"""
from django.db.backends.signals import connection_created
from django.db.models import CharField, Lookup, TextField


def pg_upper(s):
    if s is None:
        return None
    # One character in, one out: characters whose upper case is longer
    # (German sharp s, ligatures) stay as they are, as with PostgreSQL's
    # per-character towupper().
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in s)


def _register(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_function("pg_upper", 1, pg_upper, deterministic=True)


connection_created.connect(_register)


class _Instr(Lookup):
    template = None

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return self.template % (lhs, rhs), lhs_params + rhs_params


class PgContains(_Instr):
    lookup_name = "contains"
    template = "instr(%s, %s) > 0"


class PgStartsWith(_Instr):
    lookup_name = "startswith"
    template = "instr(%s, %s) = 1"


class PgIContains(_Instr):
    lookup_name = "icontains"
    template = "instr(pg_upper(%s), pg_upper(%s)) > 0"


for field in (CharField, TextField):
    for lookup in (PgContains, PgStartsWith, PgIContains):
        field.register_lookup(lookup)
