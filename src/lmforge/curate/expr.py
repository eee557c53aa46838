"""A small, safe filter language for the mixer: tokenized and parsed here (recursive descent), compiled to
closures over plain data. Nothing is ever handed to Python's ``eval``; names that are not attributes,
document fields or the few built-in functions are parse errors.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not in") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/" | "%") unary)*
    unary      := "-" unary | postfix
    postfix    := primary ("." NAME | "[" expr "]")*
    primary    := NUMBER | STRING | "true" | "false" | "null" | "(" expr ")" | "[" [expr ("," expr)*] "]"
                | QUANT "(" NAME "in" expr ":" expr ")"          QUANT: any, all, count, sum
                | FUNC "(" [expr ("," expr)*] ")"                FUNC: len, min, max, abs, exists, spans,
                                                                       score, lower
                | NAME

Names: ``doc`` is the document (``doc.text``, ``doc.metadata.url``, ``doc.source``); a quantifier's
variable names the current item; ``attributes`` is the attribute mapping; any other name is an attribute
key and means that attribute's *document value*: the score of its first span, or null if absent.
``spans(key)`` is the attribute's span list; a span ``s`` has ``s.start``, ``s.end``, ``s.score``
(also ``s[0]``..``s[2]``). Comparisons involving null are false, arithmetic on null is null, so
``gopher_v1__gopher_v1__word_count < 50`` is false when the attribute is missing (dolma's
``x && x[0] && x[0][2] < 50``). Examples::

    gopher_v1__gopher_v1__word_count < 50 or c4_v2__c4_v2__has_curly_brace > 0.5
    any(s in spans("cld2__cld2__en"): s.score < 0.5 and s.end - s.start > 100)
    doc.metadata.url in ["a.com", "b.com"] and not exists("dedupe__exact_duplicate")
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

MAX_EXPRESSION_LENGTH = 20_000
# Nesting and chaining (``a + b + c``, ``doc.a.b``) both deepen the compiled closures, whose evaluation
# recurses: each counts one level, so no expression can exhaust Python's stack in a worker.
MAX_DEPTH = 64

Env = dict[str, Any]  # {"doc": document, "attributes": {...}, variables...}
Compiled = Callable[[Env], Any]


class ExpressionError(ValueError):
    def __init__(self, expression: str, position: int, message: str) -> None:
        self.expression = expression
        self.position = position
        pointer = f"\n  {expression}\n  {' ' * position}^" if len(expression) < 200 else ""
        super().__init__(f"filter expression error at column {position + 1}: {message}{pointer}")


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str  # NUMBER STRING NAME OP EOF
    value: Any
    pos: int


_TOKEN_RE = re.compile(
    r"""(?P<space>\s+)
      |(?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
      |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op><=|>=|==|!=|[<>()\[\],.:+\-*/%])""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
QUANTIFIERS = {"any", "all", "count", "sum"}
FUNCTIONS = {"len", "min", "max", "abs", "exists", "spans", "score", "lower"}


def _unescape(expression: str, body: str, pos: int) -> str:
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExpressionError(expression, pos + i + 1, f"unknown escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(expression: str) -> list[Token]:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(expression[:50], 0, f"longer than {MAX_EXPRESSION_LENGTH} characters")
    tokens = []
    pos = 0
    while pos < len(expression):
        m = _TOKEN_RE.match(expression, pos)
        if m is None:
            raise ExpressionError(expression, pos, f"unexpected character {expression[pos]!r}")
        kind = m.lastgroup
        text = m.group()
        if kind == "number":
            tokens.append(Token("NUMBER", float(text) if any(c in text for c in ".eE") else int(text), pos))
        elif kind == "string":
            tokens.append(Token("STRING", _unescape(expression, text[1:-1], pos + 1), pos))
        elif kind == "name":
            tokens.append(Token("NAME", text, pos))
        elif kind == "op":
            tokens.append(Token("OP", text, pos))
        pos = m.end()
    tokens.append(Token("EOF", None, len(expression)))
    return tokens


# ------------------------------------------------------------------------------------------ semantics


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "in":
        if isinstance(b, (list, tuple, str, dict)) and not (isinstance(b, str) and not isinstance(a, str)):
            return a in b
        return False
    if op == "not in":
        return not _compare("in", a, b) if b is not None else False
    if op in ("==", "!="):
        if a is None or b is None:
            return (a is b) == (op == "==")
        return (a == b) == (op == "==")
    if a is None or b is None:
        return False
    if not ((_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _arith(op: str, a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)):
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None
    return a / b if op == "/" else a % b


_SPAN_FIELDS = {"start": 0, "end": 1, "score": 2}


def _member(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, (list, tuple)) and name in _SPAN_FIELDS and len(value) == 3:
        return value[_SPAN_FIELDS[name]]
    return None


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, (list, tuple, str)) and isinstance(key, int) and not isinstance(key, bool):
        return value[key] if -len(value) <= key < len(value) else None
    if isinstance(value, dict) and isinstance(key, str):
        return value.get(key)
    return None


def _truthy(value: Any) -> bool:
    return bool(value) if value is not None else False


def _doc_value(spans: Any) -> Any:
    if isinstance(spans, list) and spans and isinstance(spans[0], (list, tuple)) and len(spans[0]) == 3:
        return spans[0][2]
    return None


def _call(name: str, args: list[Any]) -> Any:
    if name == "len":
        return len(args[0]) if isinstance(args[0], (list, str, dict)) else None
    if name in ("min", "max"):
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        nums = [v for v in values if _is_num(v)]
        return (min if name == "min" else max)(nums) if nums else None
    if name == "abs":
        return abs(args[0]) if _is_num(args[0]) else None
    if name == "lower":
        return args[0].lower() if isinstance(args[0], str) else None
    raise AssertionError(name)


_ARITY = {"len": (1, 1), "min": (1, 99), "max": (1, 99), "abs": (1, 1), "exists": (1, 1), "spans": (1, 1)}
_ARITY.update({"score": (1, 1), "lower": (1, 1)})


# ------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.i = 0
        self.depth = 0
        self.variables: list[str] = []
        self.attribute_names: set[str] = set()  # bare names, i.e. attribute values the expression reads

    # helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        return ExpressionError(self.expression, (token or self.peek()).pos, message)

    def at(self, kind: str, value: Any = None, offset: int = 0) -> bool:
        t = self.peek(offset)
        return t.kind == kind and (value is None or t.value == value)

    def take(self, kind: str, value: Any = None) -> Token:
        t = self.peek()
        if not self.at(kind, value):
            want = repr(value) if value is not None else kind.lower()
            got = "end of expression" if t.kind == "EOF" else repr(t.value)
            raise self.error(f"expected {want}, got {got}", t)
        self.i += 1
        return t

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested or chained deeper than {MAX_DEPTH} levels")

    # grammar
    def parse(self) -> Compiled:
        node = self.expr()
        if not self.at("EOF"):
            raise self.error(f"unexpected {self.peek().value!r}")
        return node

    def expr(self) -> Compiled:
        self.nested()
        try:
            return self.or_()
        finally:
            self.depth -= 1

    def or_(self) -> Compiled:
        parts = [self.and_()]
        while self.at("NAME", "or"):
            self.i += 1
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return lambda env: any(_truthy(p(env)) for p in parts)

    def and_(self) -> Compiled:
        parts = [self.not_()]
        while self.at("NAME", "and"):
            self.i += 1
            parts.append(self.not_())
        if len(parts) == 1:
            return parts[0]
        return lambda env: all(_truthy(p(env)) for p in parts)

    def not_(self) -> Compiled:
        if self.at("NAME", "not"):
            self.i += 1
            self.nested()
            inner = self.not_()
            self.depth -= 1
            return lambda env: not _truthy(inner(env))
        return self.comparison()

    def comparison(self) -> Compiled:
        left = self.sum_()
        op = None
        if self.at("OP") and self.peek().value in ("<", "<=", ">", ">=", "==", "!="):
            op = self.take("OP").value
        elif self.at("NAME", "in"):
            self.i += 1
            op = "in"
        elif self.at("NAME", "not") and self.at("NAME", "in", offset=1):
            self.i += 2
            op = "not in"
        if op is None:
            return left
        right = self.sum_()
        return lambda env: _compare(op, left(env), right(env))

    def sum_(self) -> Compiled:
        node = self.product()
        links = 0
        try:
            while self.at("OP") and self.peek().value in ("+", "-"):
                op = self.take("OP").value
                self.nested()
                links += 1
                node = self._binary(op, node, self.product())
        finally:
            self.depth -= links
        return node

    def product(self) -> Compiled:
        node = self.unary()
        links = 0
        try:
            while self.at("OP") and self.peek().value in ("*", "/", "%"):
                op = self.take("OP").value
                self.nested()
                links += 1
                node = self._binary(op, node, self.unary())
        finally:
            self.depth -= links
        return node

    @staticmethod
    def _binary(op: str, left: Compiled, right: Compiled) -> Compiled:
        return lambda env: _arith(op, left(env), right(env))

    def unary(self) -> Compiled:
        if self.at("OP", "-"):
            self.i += 1
            self.nested()
            inner = self.unary()
            self.depth -= 1
            return lambda env: (lambda v: -v if _is_num(v) else None)(inner(env))
        return self.postfix()

    def postfix(self) -> Compiled:
        node = self.primary()
        links = 0
        try:
            while self.at("OP", ".") or self.at("OP", "["):
                self.nested()
                links += 1
                if self.at("OP", "."):
                    self.i += 1
                    name_token = self.take("NAME")
                    name = name_token.value
                    if name.startswith("_"):
                        raise self.error(f"field names may not start with '_': {name!r}", name_token)
                    node = (lambda inner, n: lambda env: _member(inner(env), n))(node, name)
                else:
                    self.i += 1
                    key = self.expr()
                    self.take("OP", "]")
                    node = (lambda inner, k: lambda env: _index(inner(env), k(env)))(node, key)
        finally:
            self.depth -= links
        return node

    def primary(self) -> Compiled:
        t = self.peek()
        if t.kind in ("NUMBER", "STRING"):
            self.i += 1
            value = t.value
            return lambda env: value
        if self.at("OP", "("):
            self.i += 1
            node = self.expr()
            self.take("OP", ")")
            return node
        if self.at("OP", "["):
            self.i += 1
            items: list[Compiled] = []
            if not self.at("OP", "]"):
                items.append(self.expr())
                while self.at("OP", ","):
                    self.i += 1
                    items.append(self.expr())
            self.take("OP", "]")
            return lambda env: [item(env) for item in items]
        if t.kind != "NAME":
            got = "end of expression" if t.kind == "EOF" else repr(t.value)
            raise self.error(f"expected a value, got {got}")
        self.i += 1
        name = t.value
        if name in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[name]
            return lambda env: constant
        if name in KEYWORDS:
            raise self.error(f"unexpected keyword {name!r}", t)
        if self.at("OP", "("):
            return self.call(name, t)
        return self.name(name, t)

    def name(self, name: str, token: Token) -> Compiled:
        if name.startswith("_"):
            raise self.error(f"names may not start with '_': {name!r}", token)
        if name in self.variables:
            return lambda env: env[name]
        if name == "doc":
            return lambda env: env["doc"]
        if name == "attributes":
            return lambda env: env["attributes"]
        if name in QUANTIFIERS or name in FUNCTIONS:
            raise self.error(f"{name!r} is a function; call it as {name}(...)", token)
        self.attribute_names.add(name)
        return lambda env: _doc_value(env["attributes"].get(name))

    def call(self, name: str, token: Token) -> Compiled:
        if name not in QUANTIFIERS and name not in FUNCTIONS:
            raise self.error(f"unknown function {name!r}", token)
        self.take("OP", "(")
        if name in QUANTIFIERS:
            var_token = self.take("NAME")
            var = var_token.value
            if var in KEYWORDS or var.startswith("_") or var in ("doc", "attributes"):
                raise self.error(f"bad variable name {var!r}", var_token)
            self.take("NAME", "in")
            source = self.expr()
            self.take("OP", ":")
            self.variables.append(var)
            try:
                body = self.expr()
            finally:
                self.variables.pop()
            self.take("OP", ")")
            return _quantifier(name, var, source, body)
        if name in ("exists", "spans", "score") and self.at("STRING") and self.at("OP", ")", offset=1):
            # a literal key is an attribute the expression reads, like a bare name (checked by the mixer)
            self.attribute_names.add(self.peek().value)
        args: list[Compiled] = []
        if not self.at("OP", ")"):
            args.append(self.expr())
            while self.at("OP", ","):
                self.i += 1
                args.append(self.expr())
        self.take("OP", ")")
        low, high = _ARITY[name]
        if not low <= len(args) <= high:
            raise self.error(f"{name}() takes {low}..{high} arguments, got {len(args)}", token)
        if name in ("exists", "spans", "score"):
            (arg,) = args

            def lookup(env: Env, arg: Compiled = arg) -> Any:
                key = arg(env)
                return env["attributes"].get(key) if isinstance(key, str) else None

            if name == "exists":
                return lambda env: lookup(env) is not None
            if name == "spans":
                return lambda env: lookup(env) or []
            return lambda env: _doc_value(lookup(env))
        return lambda env: _call(name, [a(env) for a in args])


def _quantifier(kind: str, var: str, source: Compiled, body: Compiled) -> Compiled:
    def run(env: Env) -> Any:
        items = source(env)
        if not isinstance(items, (list, tuple)):
            items = []
        saved = env.get(var, _MISSING)
        try:
            results = []
            for item in items:
                env[var] = item
                results.append(body(env))
            if kind == "any":
                return any(_truthy(r) for r in results)
            if kind == "all":
                return all(_truthy(r) for r in results)
            if kind == "count":
                return sum(1 for r in results if _truthy(r))
            return sum(r for r in results if _is_num(r))
        finally:
            if saved is _MISSING:
                env.pop(var, None)
            else:
                env[var] = saved

    return run


_MISSING = object()


@dataclasses.dataclass
class Expression:
    """A compiled filter: ``Expression.parse("a < 1")(doc, attributes) -> bool``."""

    source: str
    _fn: Compiled
    # Attributes read by bare name or as exists/spans/score('literal'). One that no document carries makes
    # every test on it come out the same, which is how a misspelt name would silently keep or drop
    # everything (exists('decontam__ngram_overlap__contaminatd') drops nothing); the mixer warns.
    attribute_names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, source: str) -> Expression:
        parser = _Parser(source)
        return cls(source, parser.parse(), frozenset(parser.attribute_names))

    def evaluate(self, doc: dict[str, Any], attributes: dict[str, Any]) -> Any:
        return self._fn({"doc": doc, "attributes": attributes})

    def __call__(self, doc: dict[str, Any], attributes: dict[str, Any]) -> bool:
        return _truthy(self.evaluate(doc, attributes))
