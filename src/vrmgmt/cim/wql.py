"""WQL for the ExecQuery operation: parse a query, filter instances, project properties.

Job: both hosts (the embedded CIMOM and the CMPI adapter) answer ExecQuery (DSP0200
1.4, "ExecQuery", QueryLanguage "WQL") with this module, through `compile_query()`.
`parse()` turns the query text into a `Query`; `Query.check_properties()` validates it
against the FROM class (failures become CIM_ERR_INVALID_QUERY); `Query.matches()`
filters instances and `Query.project()` reduces them to the selected properties. DMTF
CQL (DSP0202) is not implemented.

Standard followed: WQL as the WBEM servers actually speak it, i.e. the SQL-92 subset of
OpenPegasus' WQL grammar (src/Pegasus/WQL/WQL.y: SELECT list, one FROM class, WHERE with
comparisons, IS [NOT] NULL, IS [NOT] TRUE|FALSE, NOT/AND/OR) plus the parts of
Microsoft's WQL that WBEM clients send (single-quoted strings, ``LIKE``, ``ISA``, the
``__CLASS`` system property):

    query      := SELECT ( '*' | prop {',' prop} ) FROM class [WHERE cond]
    cond       := and {OR and}            -- precedence NOT > AND > OR
    and        := not {AND not}
    not        := NOT not | '(' cond ')' | predicate
    predicate  := operand op operand      -- op: = <> != < <= > >=; one side a property
                | prop IS [NOT] NULL
                | prop IS [NOT] (TRUE | FALSE)
                | prop [NOT] LIKE string   -- % any run, _ one char, [abc] [a-z] [^x] sets
                | prop ISA class           -- class as a name or a string
    operand    := prop | string | integer | real | TRUE | FALSE | NULL

- Keywords and property names are case-insensitive; a keyword cannot be a property name.
- Strings: '...' or "..."; a doubled quote ('it''s') or a backslash (\\' \\" \\\\) escapes.
  Integers: decimal or 0x hex, with optional sign, within the 64-bit CIM range. Reals:
  1.5, .5, 1e3, -2.5E-3. LIKE: ``[%]``, ``[_]``, ``[[]`` match the character itself;
  patterns are matched segment by segment without backtracking (no ReDoS).
- ``__CLASS`` is the instance's class name (compared case-insensitively, as CIM class
  names are); ``__CLASS ISA C`` tests "is C or a subclass of C". ``prop ISA C`` works on
  reference properties (the referenced class) and embedded-instance properties (the
  embedded instance's class); OpenPegasus refuses ISA, Microsoft WQL uses it this way.
- Comparisons follow the property's CIM type: integers and reals compare numerically with
  integer or real literals; string/char16 compare by code point, case-sensitively (DMTF);
  boolean with TRUE/FALSE (= and <> only); datetime with a string holding a CIM datetime
  (timestamps compare as points in time, intervals as durations); reference with a string
  holding a WBEM URI (= and <> only). Two properties of compatible types may be compared.
- NULL: ``prop = NULL`` means ``prop IS NULL`` and ``prop <> NULL`` means ``prop IS NOT
  NULL`` (as in Microsoft WQL); any other comparison involving a NULL value, or a property
  the instance does not carry, is UNKNOWN. Logic is three-valued as in SQL/CQL (NOT
  UNKNOWN is UNKNOWN); an instance matches only when the condition is TRUE. A property
  absent from the instance counts as NULL for IS [NOT] NULL.
- Array properties can be selected and tested with IS [NOT] NULL only; embedded-instance
  properties with IS [NOT] NULL and ISA only.

Refused with WQLError: joins and several classes, GROUP BY/ORDER BY/HAVING/DISTINCT and
other SQL clauses, functions, arithmetic, scoped (dotted) property names, comparisons
between two literals, queries over 64 KiB, parentheses nested deeper than 100.

Bounded by construction: lark's LALR parser is iterative, the AST is built by callbacks
during the parse (no recursive tree walk), AND/OR chains become flat n-ary nodes and NOT
chains are folded, so the only recursion left (evaluation) is bounded by the
parenthesis limit.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pywbem
from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

__all__ = ["MAX_DEPTH", "MAX_QUERY_BYTES", "Query", "WQLError", "parse"]

MAX_QUERY_BYTES = 64 * 1024
MAX_DEPTH = 100

CLASS_PSEUDO_PROPERTY = "__class"

_GRAMMAR = r"""
start: SELECT select_list FROM IDENT [_WHERE or_expr]

select_list: STAR                          -> select_all
           | IDENT (_COMMA IDENT)*         -> select_props

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr                    -> not_
         | _LPAR or_expr _RPAR
         | predicate

?predicate: operand COMPOP operand         -> compare
          | IDENT IS [NOT] NULL            -> is_null
          | IDENT IS [NOT] truth           -> is_truth
          | IDENT [NOT] LIKE STRING        -> like
          | IDENT ISA (IDENT | STRING)     -> isa

operand: IDENT                             -> prop
       | STRING                            -> str_lit
       | INT                               -> int_lit
       | HEX                               -> hex_lit
       | REAL                              -> real_lit
       | truth                             -> bool_lit
       | NULL                              -> null_lit

truth: TRUE | FALSE

SELECT: "select"i
FROM: "from"i
_WHERE: "where"i
_AND: "and"i
_OR: "or"i
NOT: "not"i
IS: "is"i
ISA: "isa"i
LIKE: "like"i
NULL: "null"i
TRUE: "true"i
FALSE: "false"i
STAR: "*"
_COMMA: ","
_LPAR: "("
_RPAR: ")"
COMPOP: "<=" | ">=" | "<>" | "!=" | "=" | "<" | ">"
IDENT: /[a-z_\u0080-\uffef][a-z0-9_\u0080-\uffef]*/i
HEX.3: /[+-]?0x[0-9a-f]+/i
REAL.2: /[+-]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?|[0-9]+e[+-]?[0-9]+)/i
INT.1: /[+-]?[0-9]+/
STRING: /'(?:[^'\\]|''|\\.)*'/s | /"(?:[^"\\]|""|\\.)*"/s

%ignore /[ \t\r\n\f\v]+/
"""

# How terminals are named in error messages.
_TERMINAL_NAMES = {
    "SELECT": "SELECT",
    "FROM": "FROM",
    "_WHERE": "WHERE",
    "_AND": "AND",
    "_OR": "OR",
    "NOT": "NOT",
    "IS": "IS",
    "ISA": "ISA",
    "LIKE": "LIKE",
    "NULL": "NULL",
    "TRUE": "TRUE",
    "FALSE": "FALSE",
    "STAR": "'*'",
    "_COMMA": "','",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "COMPOP": "a comparison operator",
    "IDENT": "a name",
    "HEX": "a number",
    "REAL": "a number",
    "INT": "a number",
    "STRING": "a string",
    "$END": "end of query",
}
_OPERAND_TERMINALS = {"IDENT", "STRING", "INT", "HEX", "REAL", "TRUE", "FALSE", "NULL"}

# SQL words people try; they lex as names, so say plainly that they are not WQL here.
_UNSUPPORTED_WORDS = {
    "ALL",
    "ANY",
    "AS",
    "ASSOCIATORS",
    "BETWEEN",
    "BY",
    "CROSS",
    "DISTINCT",
    "EVERY",
    "EXISTS",
    "FIRST",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INTERSECT",
    "JOIN",
    "LEFT",
    "LIMIT",
    "ON",
    "ORDER",
    "OUTER",
    "REFERENCES",
    "RIGHT",
    "SATISFIES",
    "TOP",
    "UNION",
    "WITHIN",
}

_NUMERIC_TYPES = frozenset(
    {"uint8", "uint16", "uint32", "uint64", "sint8", "sint16", "sint32", "sint64"}
    | {"real32", "real64"}
)
_STRING_TYPES = frozenset({"string", "char16"})
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_ORDERING_OPS = frozenset({"<", "<=", ">", ">="})
_FLIP = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class WQLError(ValueError):
    """An invalid or unsupported WQL query (answer CIM_ERR_INVALID_QUERY)."""


class _Located(WQLError):
    """Raised inside parser callbacks, which do not see the query text; parse() turns it
    into a WQLError that names the line/column."""

    def __init__(self, pos: int, head: str, tail: str = "") -> None:
        super().__init__(f"{head}offset {pos}{tail}")
        self.pos, self.head, self.tail = pos, head, tail

    def located(self, text: str) -> WQLError:
        return WQLError(f"{self.head}{_column(text, self.pos)}{self.tail}")


# -- AST -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prop:
    name: str  # as written in the query
    pos: int  # 0-based offset in the query

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Lit:
    kind: str  # "string" | "int" | "real" | "bool" | "null"
    value: Any
    pos: int


@dataclass(eq=False, slots=True)
class Compare:
    op: str  # one of = <> < <= > >=  ("!=" is normalised to "<>")
    left: Prop
    right: Prop | Lit  # a literal is always on the right (the operator is flipped)
    cache: dict = field(default_factory=dict)  # literal converted per CIM type


@dataclass(frozen=True, slots=True)
class IsNull:
    prop: Prop
    negated: bool


@dataclass(frozen=True, slots=True)
class IsTruth:
    prop: Prop
    value: bool
    negated: bool


@dataclass(frozen=True, slots=True)
class Like:
    prop: Prop
    pattern: _LikePattern
    negated: bool


@dataclass(frozen=True, slots=True)
class Isa:
    prop: Prop
    class_name: str


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = Compare | IsNull | IsTruth | Like | Isa | Not | And | Or


# -- literal decoding ------------------------------------------------------------------


def _unquote(tok: Token) -> str:
    text = str(tok)
    quote, body = text[0], text[1:-1]
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]  # the lexer guarantees a character follows
            if nxt not in ("\\", "'", '"'):
                raise _Located(
                    tok.start_pos + 1 + i,
                    f"invalid escape '\\{nxt}' in string at ",
                    "; only \\\\, \\' and \\\" are escapes",
                )
            out.append(nxt)
            i += 2
        elif ch == quote:  # doubled quote (the lexer admits no single one)
            out.append(quote)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_ANY_CHAR = "_"  # token for LIKE's '_'


class _LikeSegment:
    """A run of single-character LIKE tokens between two '%': fixed width, no
    quantifiers, so matching it never backtracks (no ReDoS through LIKE)."""

    __slots__ = ("width", "literal", "_source", "_rx")

    def __init__(self, tokens: list[str | tuple]) -> None:
        self.width = len(tokens)
        lit = all(isinstance(t, str) and t != _ANY_CHAR for t in tokens)
        self.literal = "".join(t[1:] for t in tokens) if lit else None  # type: ignore[misc]
        parts = []
        for t in tokens:
            if t == _ANY_CHAR:
                parts.append(".")
            elif isinstance(t, str):
                parts.append(re.escape(t[1:]))
            else:
                neg, items = t
                body = "".join(
                    f"{re.escape(i[0])}-{re.escape(i[1])}" if len(i) == 2 else re.escape(i)
                    for i in items
                )
                parts.append(f"[{'^' if neg else ''}{body}]")
        self._source = "".join(parts)
        self._rx: dict[bool, re.Pattern] = {}

    def _regex(self, nocase: bool) -> re.Pattern:
        rx = self._rx.get(nocase)
        if rx is None:
            flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
            rx = self._rx[nocase] = re.compile(self._source, flags)
        return rx

    def match_at(self, s: str, i: int, nocase: bool) -> bool:
        if self.literal is not None and not nocase:
            return s.startswith(self.literal, i)
        return self._regex(nocase).match(s, i) is not None

    def find(self, s: str, start: int, nocase: bool) -> int:
        if self.literal is not None and not nocase:
            return s.find(self.literal, start)
        m = self._regex(nocase).search(s, start)
        return -1 if m is None else m.start()


class _LikePattern:
    """A LIKE pattern: % any run, _ any one character, [abc] [a-z] [^x] one of a set
    ([%] [_] [[] match the character itself). Matched segment by segment, leftmost first,
    which is exact for fixed-width segments and linear in the number of segments."""

    __slots__ = ("text", "segments", "has_percent", "min_len")

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        segments: list[list[str | tuple]] = [[]]
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch == "%":
                segments.append([])
            elif ch == "_":
                segments[-1].append(_ANY_CHAR)
            elif ch == "[":
                neg = text.startswith("[^", i)
                first = i + (2 if neg else 1)
                end = text.find("]", first + 1)  # a ']' first in the set is literal
                if end < 0:
                    raise _Located(pos, f"unterminated '[' in LIKE pattern {text!r} at ")
                body = text[first:end]
                items: list[str] = []
                j = 0
                while j < len(body):
                    if j + 2 < len(body) and body[j + 1] == "-":
                        lo, hi = body[j], body[j + 2]
                        if lo > hi:
                            raise _Located(
                                pos, f"invalid range '{lo}-{hi}' in LIKE pattern {text!r} at "
                            )
                        items.append(lo + hi)
                        j += 3
                    else:
                        items.append(body[j])
                        j += 1
                segments[-1].append((neg, tuple(items)))
                i = end
            else:
                segments[-1].append("=" + ch)  # literal character, marked
            i += 1
        self.segments = [_LikeSegment(t) for t in segments]
        self.has_percent = len(self.segments) > 1
        self.min_len = sum(seg.width for seg in self.segments)

    def match(self, s: str, nocase: bool = False) -> bool:
        segs = self.segments
        if len(s) < self.min_len:
            return False
        if not self.has_percent:
            return len(s) == self.min_len and segs[0].match_at(s, 0, nocase)
        first, last = segs[0], segs[-1]
        if not first.match_at(s, 0, nocase):
            return False
        pos = first.width
        last_start = len(s) - last.width
        for seg in segs[1:-1]:
            i = seg.find(s, pos, nocase)
            if i < 0 or i + seg.width > last_start:
                return False
            pos = i + seg.width
        return last.match_at(s, last_start, nocase)


def _int_literal(tok: Token, base: int) -> Lit:
    """An integer literal; CIM integers are 64-bit, so longer ones are refused (this
    also keeps int() away from Python's 4300-digit conversion limit)."""
    value = None if len(str(tok).lstrip("+-")) > 24 else int(str(tok), base)
    if value is None or not _INT_MIN <= value <= _INT_MAX:
        raise _Located(
            tok.start_pos, "integer literal out of range at ", " (CIM integers are 64-bit)"
        )
    return Lit("int", value, tok.start_pos)


# -- parse-time AST construction (runs inside the LALR parser: no recursion) -----------


class _Builder(Transformer):
    """Callbacks the LALR parser calls on each reduction; stateless, so thread-safe."""

    def start(self, c):
        _select, select, _from, cls, where = c
        return select, str(cls), where

    def select_all(self, c):
        return None

    def select_props(self, c):
        return [Prop(str(t), t.start_pos) for t in c]

    def or_expr(self, c):
        return Or(tuple(c))

    def and_expr(self, c):
        return And(tuple(c))

    def not_(self, c):
        child = c[1]
        if isinstance(child, Not):  # NOT NOT x == x (also in three-valued logic)
            return child.child
        return Not(child)

    def truth(self, c):
        return c[0]

    # operands
    def prop(self, c):
        return Prop(str(c[0]), c[0].start_pos)

    def str_lit(self, c):
        return Lit("string", _unquote(c[0]), c[0].start_pos)

    def int_lit(self, c):
        return _int_literal(c[0], 10)

    def hex_lit(self, c):
        return _int_literal(c[0], 16)

    def real_lit(self, c):
        value = float(str(c[0]))
        if not math.isfinite(value):
            raise _Located(c[0].start_pos, "real literal out of range at ")
        return Lit("real", value, c[0].start_pos)

    def bool_lit(self, c):
        return Lit("bool", c[0].type == "TRUE", c[0].start_pos)

    def null_lit(self, c):
        return Lit("null", None, c[0].start_pos)

    # predicates
    def compare(self, c):
        left, optok, right = c
        op = "<>" if str(optok) == "!=" else str(optok)
        if isinstance(left, Lit) and isinstance(right, Lit):
            raise _Located(
                optok.start_pos,
                f"comparison '{optok}' at ",
                " needs a property on at least one side",
            )
        if isinstance(left, Lit):
            left, right, op = right, left, _FLIP[op]
        if isinstance(right, Lit) and right.kind == "null":
            if op == "=":
                return IsNull(left, negated=False)
            if op == "<>":
                return IsNull(left, negated=True)
            raise _Located(
                optok.start_pos,
                f"comparison '{optok}' at ",
                " with NULL: use IS NULL or IS NOT NULL",
            )
        return Compare(op, left, right)

    def is_null(self, c):
        return IsNull(Prop(str(c[0]), c[0].start_pos), negated=c[2] is not None)

    def is_truth(self, c):
        return IsTruth(Prop(str(c[0]), c[0].start_pos), c[3].type == "TRUE", c[2] is not None)

    def like(self, c):
        name, negated, _like, stok = c
        pattern = _LikePattern(_unquote(stok), stok.start_pos)
        return Like(Prop(str(name), name.start_pos), pattern, negated is not None)

    def isa(self, c):
        name, _isa, cls = c
        cls_name = _unquote(cls) if cls.type == "STRING" else str(cls)
        if not cls_name:
            raise _Located(cls.start_pos, "empty class name after ISA at ")
        return Isa(Prop(str(name), name.start_pos), cls_name)


@functools.cache
def _parser() -> Lark:
    return Lark(
        _GRAMMAR,
        parser="lalr",
        lexer="basic",
        transformer=_Builder(),
        maybe_placeholders=True,
    )


def _column(text: str, pos: int) -> str:
    """'column C' (1-based) for one-line queries, 'line L column C' otherwise."""
    if "\n" not in text:
        return f"column {pos + 1}"
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} column {col}"


def _describe_expected(expected: set[str]) -> str:
    names = set(expected)
    words: list[str] = []
    if len(names & _OPERAND_TERMINALS) >= 5:  # "a property or a literal", not 8 names
        names -= _OPERAND_TERMINALS
        words.append("a property or a literal")
    words += sorted({_TERMINAL_NAMES.get(n, n) for n in names})
    return ", ".join(words)


def _syntax_error(text: str, err: UnexpectedInput, recent: list[Token]) -> WQLError:
    """A WQLError naming the position and the token (or character) that is wrong."""
    if isinstance(err, UnexpectedToken) and recent and recent[-1] is err.token:
        recent = recent[:-1]  # the offending token was already yielded by the lexer
    prev = recent[-1] if recent else None
    prev2 = recent[-2] if len(recent) > 1 else None
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = text[pos]
        if ch in "'\"":
            return WQLError(f"unterminated string starting at {_column(text, pos)}")
        if ch == "." and prev is not None and prev.type == "IDENT":
            return WQLError(
                f"scoped property names ('{prev}.…') are not supported (at {_column(text, pos)})"
            )
        return WQLError(f"unexpected character {ch!r} at {_column(text, pos)}")
    if not isinstance(err, UnexpectedToken):
        return WQLError(f"syntax error: {err}")
    tok = err.token
    if tok.type == "$END":
        pos = len(text)
        what = "end of query"
    else:
        pos = tok.start_pos
        what = repr(str(tok))
    where = _column(text, pos)
    hint = ""
    if tok.type == "IDENT" and str(tok).upper() in _UNSUPPORTED_WORDS:
        hint = f"; {str(tok).upper()} is not supported in WQL"
    elif tok.type == "_LPAR" and prev is not None and prev.type == "IDENT":
        hint = "; functions are not supported"
    elif tok.type == "_COMMA" and prev2 is not None and prev2.type == "FROM":
        hint = "; only one class may follow FROM (joins are not supported)"
    elif tok.type == "ISA" and (prev is None or prev.type != "IDENT"):
        hint = "; write __CLASS ISA <class> to test the instance's class"
    if set(err.expected or ()) == {"IDENT"} and prev is not None and prev.type == "FROM":
        expected = "a class name"
    else:
        expected = _describe_expected(err.expected) if err.expected else ""
    exp = f" (expected {expected})" if expected else ""
    return WQLError(f"unexpected {what} at {where}{exp}{hint}")


# -- public API ------------------------------------------------------------------------


def parse(query: str) -> Query:
    """Parse a WQL query; raise WQLError naming the offending position and token."""
    if not isinstance(query, str):
        raise WQLError(f"query must be a string, not {type(query).__name__}")
    if (
        len(query) > MAX_QUERY_BYTES
        or len(query.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES
    ):
        raise WQLError(f"query is longer than {MAX_QUERY_BYTES} bytes")
    if not query.strip():
        raise WQLError("empty query")

    ip = _parser().parse_interactive(query)
    recent: list[Token] = []  # the last few tokens, for error hints
    depth = 0
    try:
        for tok in ip.iter_parse():
            if tok.type == "_LPAR":
                depth += 1
                if depth > MAX_DEPTH:
                    raise WQLError(
                        f"parentheses nested deeper than {MAX_DEPTH} at "
                        f"{_column(query, tok.start_pos)}"
                    )
            elif tok.type == "_RPAR":
                depth -= 1
            recent.append(tok)
            if len(recent) > 4:
                del recent[0]
        end = Token("$END", "", start_pos=len(query))
        select, class_name, where = ip.feed_token(end)
    except _Located as e:
        raise e.located(query) from None
    except UnexpectedInput as e:
        raise _syntax_error(query, e, recent) from None
    except LarkError as e:  # e.g. a WQLError raised in a callback, wrapped by lark
        inner = getattr(e, "orig_exc", None)
        if isinstance(inner, WQLError):
            raise inner from None
        raise WQLError(f"invalid query: {e}") from None
    return Query(class_name, select, where, query)


class Query:
    """A parsed WQL SELECT statement."""

    __slots__ = ("class_name", "properties", "select_all", "where", "text", "_select")

    def __init__(self, class_name: str, select: list[Prop] | None, where: Node | None, text=""):
        self.class_name: str = class_name
        self.text: str = text
        self.where: Node | None = where
        self.select_all: bool = select is None
        self._select: list[Prop] = []
        if select is not None:
            seen: set[str] = set()
            for p in select:
                if p.key not in seen:
                    seen.add(p.key)
                    self._select.append(p)
        self.properties: list[str] | None = (
            None if select is None else [p.name for p in self._select]
        )

    def __repr__(self) -> str:
        return f"Query({self.text!r})"

    # -- introspection -------------------------------------------------------------
    @property
    def where_properties(self) -> list[str]:
        """Property names used in WHERE (as first written, each once)."""
        out: dict[str, str] = {}
        for p in _props_of(self.where):
            out.setdefault(p.key, p.name)
        return list(out.values())

    # -- validation against the FROM class -----------------------------------------
    def check_properties(self, cls: pywbem.CIMClass) -> None:
        """Raise WQLError if the query names a property `cls` does not declare, or
        compares a property with a value of an incompatible type.

        `cls` is the FROM class with its inherited properties (LocalOnly=False).
        """
        text = self.text
        for p in self._select:
            _class_prop(cls, p, text)
        stack: list[Node] = [self.where] if self.where is not None else []
        while stack:
            node = stack.pop()
            if isinstance(node, And | Or):
                stack.extend(node.children)
            elif isinstance(node, Not):
                stack.append(node.child)
            else:
                _check_predicate(cls, node, text)

    # -- evaluation --------------------------------------------------------------------
    def matches(
        self, instance: pywbem.CIMInstance, is_subclass: Callable[[str, str], bool]
    ) -> bool:
        """True when `instance` is of the FROM class (or a subclass) and WHERE is TRUE.

        `is_subclass(classname, superclassname)` says whether `classname` is
        `superclassname` or derives from it (used for the FROM class and ISA).
        """
        if not _isa(instance.classname, self.class_name, is_subclass):
            return False
        if self.where is None:
            return True
        return _eval(self.where, instance, is_subclass) is True

    def project(self, instance: pywbem.CIMInstance) -> pywbem.CIMInstance:
        """A new instance with only the selected properties; the path is kept as is."""
        if self.select_all:
            return instance.copy()
        path = instance.path.copy() if instance.path is not None else None
        new = pywbem.CIMInstance(instance.classname, qualifiers=instance.qualifiers, path=path)
        props = instance.properties
        for p in self._select:
            prop = props.get(p.name)
            if prop is not None:
                new.properties[prop.name] = prop.copy()
        return new


# -- helpers: class checks -------------------------------------------------------------


def _props_of(node: Node | None) -> list[Prop]:
    out: list[Prop] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, And | Or):
            stack.extend(reversed(n.children))
        elif isinstance(n, Not):
            stack.append(n.child)
        elif isinstance(n, Compare):
            out.append(n.left)
            if isinstance(n.right, Prop):
                out.append(n.right)
        else:
            out.append(n.prop)
    return out


def _class_prop(cls: pywbem.CIMClass, p: Prop, text: str) -> pywbem.CIMProperty | None:
    """The class's declaration of `p` (None for __CLASS); WQLError when undeclared."""
    if p.key == CLASS_PSEUDO_PROPERTY:
        return None
    decl = cls.properties.get(p.name)
    if decl is None:
        raise WQLError(
            f"property {p.name!r} (at {_column(text, p.pos)}) is not declared by class "
            f"{cls.classname}"
        )
    return decl


def _type_name(decl: pywbem.CIMProperty | None) -> str:
    if decl is None:
        return "class name (__CLASS)"
    t = decl.type
    if decl.embedded_object:
        t = f"embedded {decl.embedded_object}"
    return f"{t}[]" if decl.is_array else t


def _embedded(decl: pywbem.CIMProperty) -> bool:
    """An embedded object or instance: pywbem's embedded_object, or (for a class
    compiled from MOF) the EmbeddedObject / EmbeddedInstance qualifier on a string."""
    if decl.embedded_object:
        return True
    q = decl.qualifiers
    return bool(
        (q.get("EmbeddedObject") is not None and q["EmbeddedObject"].value)
        or (q.get("EmbeddedInstance") is not None and q["EmbeddedInstance"].value)
    )


def _group(decl: pywbem.CIMProperty | None) -> str:
    """Comparison family of a property: numeric, string, boolean, datetime, reference,
    class (the __CLASS pseudo-property), or unsupported (array / embedded)."""
    if decl is None:
        return "class"
    if decl.is_array or _embedded(decl):
        return "unsupported"
    if decl.type in _NUMERIC_TYPES:
        return "numeric"
    if decl.type in _STRING_TYPES:
        return "string"
    if decl.type in ("boolean", "datetime", "reference"):
        return decl.type
    return "unsupported"


_LIT_OK = {
    "numeric": {"int", "real"},
    "string": {"string"},
    "class": {"string"},
    "boolean": {"bool"},
    "datetime": {"string"},
    "reference": {"string"},
}
_EQ_ONLY = {"boolean", "reference"}


def _check_predicate(cls: pywbem.CIMClass, node: Node, text: str) -> None:
    if isinstance(node, IsNull):
        _class_prop(cls, node.prop, text)
        return
    if isinstance(node, IsTruth):
        decl = _class_prop(cls, node.prop, text)
        if _group(decl) != "boolean":
            raise WQLError(
                f"IS TRUE/FALSE needs a boolean property; {node.prop.name!r} is {_type_name(decl)}"
            )
        return
    if isinstance(node, Like):
        decl = _class_prop(cls, node.prop, text)
        if _group(decl) not in ("string", "class"):
            raise WQLError(
                f"LIKE needs a string property; {node.prop.name!r} is {_type_name(decl)}"
            )
        return
    if isinstance(node, Isa):
        decl = _class_prop(cls, node.prop, text)
        if decl is not None and (
            decl.is_array or (decl.type != "reference" and not _embedded(decl))
        ):
            raise WQLError(
                f"ISA needs __CLASS, a reference or an embedded-instance property; "
                f"{node.prop.name!r} is {_type_name(decl)}"
            )
        return
    assert isinstance(node, Compare)
    ldecl = _class_prop(cls, node.left, text)
    lgroup = _group(ldecl)
    what = f"{node.left.name!r} ({_type_name(ldecl)})"
    if lgroup == "unsupported":
        raise WQLError(
            f"property {what} cannot be compared; arrays and embedded objects allow only "
            "IS [NOT] NULL (and ISA)"
        )
    if lgroup in _EQ_ONLY and node.op in _ORDERING_OPS:
        raise WQLError(f"operator {node.op} cannot be used with property {what}")
    right = node.right
    if isinstance(right, Prop):
        rdecl = _class_prop(cls, right, text)
        rgroup = _group(rdecl)
        if rgroup != lgroup and {lgroup, rgroup} != {"string", "class"}:
            raise WQLError(
                f"type mismatch: property {what} compared with property "
                f"{right.name!r} ({_type_name(rdecl)})"
            )
        return
    if right.kind not in _LIT_OK[lgroup]:
        raise WQLError(
            f"type mismatch: property {what} compared with {right.kind} literal "
            f"{_lit_text(right)} at {_column(text, right.pos)}"
        )
    if lgroup == "datetime":
        try:
            pywbem.CIMDateTime(right.value)
        except (ValueError, TypeError) as e:
            raise WQLError(
                f"{right.value!r} (at {_column(text, right.pos)}) is not a CIM datetime "
                f"for property {what}: {e}"
            ) from None
    elif lgroup == "reference":
        try:
            pywbem.CIMInstanceName.from_wbem_uri(right.value)
        except (ValueError, TypeError) as e:
            raise WQLError(
                f"{right.value!r} (at {_column(text, right.pos)}) is not an instance path "
                f"for property {what}: {e}"
            ) from None


def _lit_text(lit: Lit) -> str:
    if lit.kind == "string":
        return repr(lit.value)
    if lit.kind == "bool":
        return "TRUE" if lit.value else "FALSE"
    return str(lit.value)


# -- helpers: evaluation (three-valued: True, False, None = UNKNOWN) -------------------


def _isa(classname: str, target: str, is_subclass: Callable[[str, str], bool]) -> bool:
    return classname.lower() == target.lower() or bool(is_subclass(classname, target))


def _value(instance: pywbem.CIMInstance, p: Prop) -> tuple[str, Any]:
    """(group, value) of a property of the instance; value None for NULL / absent."""
    if p.key == CLASS_PSEUDO_PROPERTY:
        return "class", instance.classname
    prop = instance.properties.get(p.name)
    if prop is None:
        return "absent", None
    return _group(prop), prop.value


def _eval(node: Node, inst: pywbem.CIMInstance, is_subclass) -> bool | None:
    if isinstance(node, Or):
        result: bool | None = False
        for child in node.children:
            r = _eval(child, inst, is_subclass)
            if r is True:
                return True
            if r is None:
                result = None
        return result
    if isinstance(node, And):
        result = True
        for child in node.children:
            r = _eval(child, inst, is_subclass)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    if isinstance(node, Not):
        r = _eval(node.child, inst, is_subclass)
        return None if r is None else not r
    if isinstance(node, Compare):
        return _eval_compare(node, inst)
    if isinstance(node, IsNull):
        _, v = _value(inst, node.prop)
        return (v is not None) if node.negated else (v is None)
    if isinstance(node, IsTruth):
        group, v = _value(inst, node.prop)
        if v is not None and group != "boolean":
            return None
        hit = v is not None and bool(v) == node.value
        return (not hit) if node.negated else hit
    if isinstance(node, Like):
        group, v = _value(inst, node.prop)
        if v is None or group not in ("string", "class") or not isinstance(v, str):
            return None
        hit = node.pattern.match(v, nocase=group == "class")
        return (not hit) if node.negated else hit
    if isinstance(node, Isa):
        return _eval_isa(node, inst, is_subclass)
    raise AssertionError(f"unknown node {node!r}")


def _eval_isa(node: Isa, inst: pywbem.CIMInstance, is_subclass) -> bool | None:
    if node.prop.key == CLASS_PSEUDO_PROPERTY:
        return _isa(inst.classname, node.class_name, is_subclass)
    prop = inst.properties.get(node.prop.name)
    if prop is None or prop.value is None or prop.is_array:
        return None
    v = prop.value
    if isinstance(v, pywbem.CIMInstanceName | pywbem.CIMInstance | pywbem.CIMClass):
        return _isa(v.classname, node.class_name, is_subclass)
    return None


def _cmp(op: str, a: Any, b: Any) -> bool:
    if op == "=":
        return a == b
    if op == "<>":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _as_datetime(v: Any) -> _dt.datetime | _dt.timedelta | None:
    if isinstance(v, str):
        try:
            v = pywbem.CIMDateTime(v)
        except (ValueError, TypeError):
            return None
    if isinstance(v, pywbem.CIMDateTime):
        return v.timedelta if v.is_interval else v.datetime
    if isinstance(v, _dt.datetime | _dt.timedelta):
        return v
    return None


def _as_path(v: Any) -> pywbem.CIMInstanceName | None:
    if isinstance(v, str):
        try:
            return pywbem.CIMInstanceName.from_wbem_uri(v)
        except (ValueError, TypeError):
            return None
    return v if isinstance(v, pywbem.CIMInstanceName) else None


def _same_path(a: pywbem.CIMInstanceName, b: pywbem.CIMInstanceName) -> bool:
    """Class and keys equal; namespace and host only where both sides name one."""
    if a.classname.lower() != b.classname.lower() or a.keybindings != b.keybindings:
        return False
    ns_a = (a.namespace or "").strip("/").lower()
    ns_b = (b.namespace or "").strip("/").lower()
    if ns_a and ns_b and ns_a != ns_b:
        return False
    return not (a.host and b.host and a.host.lower() != b.host.lower())


def _converted(node: Compare, group: str, raw: Any) -> Any:
    """The literal converted for a property group (cached on the node)."""
    try:
        return node.cache[group]
    except KeyError:
        pass
    if group == "datetime":
        conv = _as_datetime(raw)
    elif group == "reference":
        conv = _as_path(raw)
    else:
        conv = raw
    node.cache[group] = conv
    return conv


def _compare_values(op: str, lg: str, lv: Any, rg: str, rv: Any) -> bool | None:
    """Compare two non-NULL values of groups lg / rg ("lit:<kind>" for a literal)."""
    if lg == "numeric":
        if rg not in ("numeric", "lit:int", "lit:real") or isinstance(rv, bool):
            return None
        if isinstance(lv, bool) or not isinstance(lv, int | float):
            return None
        return _cmp(op, lv, rv)
    if lg in ("string", "class"):
        if rg not in ("string", "class", "lit:string"):
            return None
        if not isinstance(lv, str) or not isinstance(rv, str):
            return None
        if "class" in (lg, rg):  # class names are case-insensitive
            lv, rv = lv.lower(), rv.lower()
        return _cmp(op, lv, rv)
    if lg == "boolean":
        if rg not in ("boolean", "lit:bool") or op in _ORDERING_OPS:
            return None
        return _cmp(op, bool(lv), bool(rv))
    if lg == "datetime":
        if rg not in ("datetime", "lit:string"):
            return None
        a, b = _as_datetime(lv), (rv if rg == "lit:string" else _as_datetime(rv))
        if a is None or b is None or type(a) is not type(b):
            return None  # unparseable, or a timestamp against an interval
        return _cmp(op, a, b)
    if lg == "reference":
        if rg not in ("reference", "lit:string") or op in _ORDERING_OPS:
            return None
        a, b = _as_path(lv), (rv if rg == "lit:string" else _as_path(rv))
        if a is None or b is None:
            return None
        same = _same_path(a, b)
        return same if op == "=" else not same
    return None


def _eval_compare(node: Compare, inst: pywbem.CIMInstance) -> bool | None:
    lg, lv = _value(inst, node.left)
    if lv is None:
        return None
    right = node.right
    if isinstance(right, Prop):
        rg, rv = _value(inst, right)
        if rv is None:
            return None
    else:
        rg = "lit:" + right.kind
        rv = _converted(node, lg, right.value) if right.kind == "string" else right.value
        if rv is None:
            return None
    try:
        return _compare_values(node.op, lg, lv, rg, rv)
    except TypeError:  # e.g. naive vs aware datetime
        return None


#: QueryLanguage values meaning WQL (DSP0200 "WQL"; DMTF's registry spells "DMTF:WQL")
WQL_NAMES = frozenset({"wql", "dmtf:wql"})


def compile_query(language: object, text: object, get_class) -> Query:
    """A checked WQL query for ExecQuery/OpenQueryInstances, or the CIMError a client
    gets: CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED for anything but WQL, CIM_ERR_INVALID_QUERY
    for an empty or invalid query or one naming a property its class lacks.
    get_class(name) returns the pywbem CIMClass (raising CIMError for unknown ones)."""
    from pywbem import CIMError

    if not isinstance(language, str) or language.strip().lower() not in WQL_NAMES:
        raise CIMError(
            pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED,
            f"query language {language!r} is not supported; use WQL",
        )
    if not isinstance(text, str) or not text.strip():
        raise CIMError(pywbem.CIM_ERR_INVALID_QUERY, "the query is empty")
    try:
        query = parse(text)
        query.check_properties(get_class(query.class_name))
    except WQLError as exc:
        raise CIMError(pywbem.CIM_ERR_INVALID_QUERY, f"invalid WQL: {exc}") from None
    except CIMError as exc:
        if exc.status_code in (pywbem.CIM_ERR_INVALID_CLASS, pywbem.CIM_ERR_NOT_FOUND):
            raise CIMError(
                pywbem.CIM_ERR_INVALID_QUERY, f"invalid WQL: {exc.status_description}"
            ) from None
        raise
    return query
