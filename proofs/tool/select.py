"""``-k`` expressions, as pytest has them: words joined by ``and``, ``or``, ``not`` and parentheses.

A word matches an item when it is a substring, in any case, of one of the
item's keywords (for an obligation: its ident ``name [variant]``, its
function and its property; for a contract condition: its function and its
condition).  ``not`` binds tighter than ``and``, ``and`` tighter than
``or``.  Anything between spaces and parentheses is a word, and words
side by side are one phrase (idents have spaces), so both
``-k "[seed] and not try_to_unmap_one"`` and ``-k "try_to_unmap refinement"``
work as they read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from proofs.tool.cli import UsageError

OPERATORS = ("and", "or", "not")
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
MAX_EXPRESSION = 1000  # characters: an expression is typed, not generated
MAX_DEPTH = 32  # nested parentheses and nots; deeper is a mistake, and would exhaust the stack


Matcher = Callable[[Sequence[str]], bool]


@dataclass
class _Parser:
    tokens: list[str]
    expression: str
    at: int = 0
    depth: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.error("ends too early")
        self.at += 1
        return token

    def error(self, what: str) -> UsageError:
        shown = self.expression if len(self.expression) <= 60 else self.expression[:57] + "..."
        return UsageError(f"-k {shown!r}: {what}")

    def any_of(self) -> Matcher:
        parts = [self.all_of()]
        while self.peek() == "or":
            self.take()
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else lambda keys: any(p(keys) for p in parts)

    def all_of(self) -> Matcher:
        parts = [self.negation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else lambda keys: all(p(keys) for p in parts)

    def nested(self, parse: Callable[[], Matcher]) -> Matcher:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nests deeper than {MAX_DEPTH}")
        inner = parse()
        self.depth -= 1
        return inner

    def negation(self) -> Matcher:
        if self.peek() == "not":
            self.take()
            inner = self.nested(self.negation)
            return lambda keys: not inner(keys)
        return self.atom()

    def atom(self) -> Matcher:
        token = self.take()
        if token == "(":
            inner = self.nested(self.any_of)
            if self.peek() != ")":
                raise self.error("a '(' is not closed")
            self.take()
            return inner
        if token in (")", *OPERATORS):
            raise self.error(f"{token!r} where a word or '(' was expected")
        words = [token]
        while self.peek() not in (None, "(", ")", *OPERATORS):
            words.append(self.take())
        phrase = " ".join(words).lower()
        return lambda keys: any(phrase in key.lower() for key in keys)


def compile_expression(expression: str) -> Matcher:
    """A predicate over an item's keywords; UsageError (exit 2) for a malformed expression."""
    if len(expression) > MAX_EXPRESSION:
        raise UsageError(f"-k: an expression of {len(expression)} characters is longer than {MAX_EXPRESSION}")
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise UsageError("-k needs an expression, not an empty string")
    parser = _Parser(tokens, expression)
    matcher = parser.any_of()
    if parser.peek() is not None:
        raise parser.error(f"unexpected {parser.peek()!r}")
    return matcher
