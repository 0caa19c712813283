"""Jinja2's sandbox with a budget: a template is untrusted work, and rendering it must end soon
and small, whatever its author wrote.

Jinja's own sandbox stops a template from reaching Python internals, but not from looping:
`{% for a in range(10**5) %}{% for b in range(10**5) %}x{% endfor %}{% endfor %}` is ten
billion steps. `BudgetEnvironment` counts, for each render:

- steps: every loop iteration (also of a recursive loop), every call (functions, methods,
  macros), every filter and every intercepted operator;
- time: a wall-clock deadline, checked at every step;
- size: every printed value and the static text of every loop iteration count towards the
  output; no single value (a string, or a list by the total length of what it holds) may grow
  past `Limits.value`; a call, filter or operator whose arguments could multiply into more than
  that (`"x" * 10**9`, `s.replace("a", s)`, `"%999999999d"`, a huge `**`) is refused before it runs.

A render over budget raises `OverBudget`, naming which budget; `render` runs one compiled
template under a fresh budget. Outside `render` (Jinja's compile-time folding of constants)
nothing is counted: the compiler is kept from folding any filter, call or intercepted operator.
"""

import contextvars
import functools
import re
import time
from dataclasses import dataclass
from string import Formatter

from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.runtime import LoopContext
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment


@dataclass(frozen=True)
class Limits:
    steps: int = 100_000  # loop iterations, calls, filters and operators
    seconds: float = 2.0  # wall clock, per part rendered
    output: int = 500_000  # characters a part may print (an email's HTML included)
    value: int = 200_000  # characters in one value
    product: int = 10_000_000  # the most a call's arguments may multiply into
    int_bits: int = 4096  # an integer's size


LIMITS = Limits()


class OverBudget(Exception):
    """A render went over one of its budgets: `what` is steps, time, output or value."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class Budget:
    def __init__(self, limits: Limits = LIMITS):
        self.limits = limits
        self.steps = 0
        self.output = 0
        self.deadline = time.monotonic() + limits.seconds

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.limits.steps:
            raise OverBudget("steps")
        if time.monotonic() > self.deadline:
            raise OverBudget("time")

    def charge(self, chars: int) -> None:
        self.output += chars
        if self.output > self.limits.output:
            raise OverBudget("output")

    def iterate(self, iterable, static: int):
        for item in iterable:
            self.tick()
            if static:
                self.charge(static)
            yield item

    def weight(self, value, depth: int = 0, seen: dict | None = None) -> int:
        """How large a value is: a string by its length, a collection by its items and what
        they hold (shared items counted once), an integer by its magnitude."""
        if isinstance(value, str):
            return len(value)
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return 1
        if isinstance(value, int):
            return abs(value)
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            if depth > 3:
                return self.limits.product + 1
            seen = {} if seen is None else seen
            if id(value) in seen:
                return 1
            items = value.items() if isinstance(value, dict) else value
            total = len(value)
            seen[id(value)] = True
            for item in items:
                total += self.weight(item, depth + 1, seen)
                if total > self.limits.product:
                    break
            return total
        return 1

    def check_value(self, value) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > self.limits.int_bits:
                raise OverBudget("value")
        elif isinstance(value, (str, list, tuple, dict, set, frozenset)):
            if self.weight(value) > self.limits.value:
                raise OverBudget("value")

    def check_args(self, args, kwargs) -> None:
        product = 1
        for v in (*args, *kwargs.values()):
            product *= max(1, self.weight(v))
            if product > self.limits.product:
                raise OverBudget("value")


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("caseload_render_budget", default=None)

_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent(budget: Budget, fmt) -> None:
    for width, precision in _PERCENT.findall(fmt if isinstance(fmt, str) else ""):
        for n in (width, precision):
            if n == "*" or (n and int(n) > budget.limits.value):
                raise OverBudget("value")


def _check_format(budget: Budget, fmt: str) -> None:
    try:
        fields = list(Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _, _, spec, _ in fields:
        if spec and ("{" in spec or any(int(n) > budget.limits.value for n in re.findall(r"\d+", spec))):
            raise OverBudget("value")


@pass_context
def _loop(context, iterable, static):
    budget = _current.get()
    return iterable if budget is None else budget.iterate(iterable, static)


def _counted(name: str, f):
    """A filter that counts as a step and checks its arguments and result. Marked as taking the
    context, so the compiler never runs it while folding constants (outside any budget)."""
    kind = getattr(getattr(f, "jinja_pass_arg", None), "name", None)

    @pass_context
    @functools.wraps(f, assigned=("__name__", "__doc__"), updated=())
    def counted(context, *args, **kwargs):
        first = {"context": context, "eval_context": getattr(context, "eval_ctx", None),
                 "environment": context.environment}.get(kind)
        budget = _current.get()
        if budget is not None:
            budget.tick()
            budget.check_args(args, kwargs)
            if name == "format" and args:
                _check_percent(budget, args[0])
        rv = f(first, *args, **kwargs) if kind else f(*args, **kwargs)
        if budget is not None:
            budget.check_value(rv)
        return rv

    return counted


def _range(*args):
    """range(), refused when it is longer than the step budget (it could never be looped over)."""
    r = range(*args)
    budget = _current.get()
    if len(r) > (budget.limits.steps if budget is not None else MAX_RANGE):
        raise OverBudget("steps")
    return r


class _Generator(CodeGenerator):
    """Jinja's code generator, with every loop's iterable passed through the budget and every
    `~` concatenation checked for size."""

    def visit_Template(self, node, frame=None):
        for loop in node.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == "_budget_loop"):
                static = sum(len(d.data) for part in loop.body for d in part.find_all(nodes.TemplateData))
                loop.iter = nodes.Filter(loop.iter, "_budget_loop", [nodes.Const(static)], [], None, None,
                                         lineno=loop.lineno)
        return super().visit_Template(node, frame)

    def visit_Concat(self, node, frame):
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class BudgetEnvironment(SandboxedEnvironment):
    """SandboxedEnvironment whose renders are counted against the budget of `render`."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options):
        super().__init__(**options)
        self.filters = {name: _counted(name, f) for name, f in self.filters.items()}
        self.filters["_budget_loop"] = _loop
        self.globals.pop("lipsum", None)  # text by the page, for nothing a message needs
        self.globals["range"] = _range

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (the sandbox's own signature)
        budget = _current.get()
        if budget is not None:
            budget.tick()
            owner = getattr(__obj, "__self__", None)  # a method multiplies with its object: s.replace("x", s)
            budget.check_args((owner, *args) if isinstance(owner, (str, list, tuple, dict)) else args, kwargs)
            wrapped = getattr(__obj, "__wrapped__", None)  # the sandbox's wrapper of str.format
            if isinstance(getattr(wrapped, "__self__", None), str) and wrapped.__name__ in ("format", "format_map"):
                _check_format(budget, wrapped.__self__)
            if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
                args = (budget.iterate(args[0], 0), *args[1:])
        rv = super().call(__context, __obj, *args, **kwargs)
        if budget is not None:
            budget.check_value(rv)
        return rv

    def call_binop(self, context, operator, left, right):
        budget = _current.get()
        if budget is not None:
            budget.tick()
            ints = isinstance(left, int) and isinstance(right, int)
            if operator == "**" and ints:
                if abs(right) > budget.limits.int_bits or left.bit_length() * abs(right) > budget.limits.int_bits:
                    raise OverBudget("value")
            elif operator == "*" and ints:
                if left.bit_length() + right.bit_length() > budget.limits.int_bits:
                    raise OverBudget("value")
            elif operator == "*":
                seq, n = (left, right) if isinstance(right, int) else (right, left)
                if isinstance(n, int) and budget.weight(seq) * max(n, 0) > budget.limits.value:
                    raise OverBudget("value")
            elif operator == "+":
                if not ints and budget.weight(left) + budget.weight(right) > budget.limits.value:
                    raise OverBudget("value")
            elif operator == "%" and isinstance(left, str):
                _check_percent(budget, left)
        rv = super().call_binop(context, operator, left, right)
        if budget is not None:
            budget.check_value(rv)
        return rv

    def sized(self, value):
        budget = _current.get()
        if budget is not None:
            budget.tick()
            budget.check_value(value)
        return value


def charge_output(value) -> None:
    """Count one printed value (the environment's `finalize` calls this)."""
    budget = _current.get()
    if budget is not None:
        budget.charge(len(value) if isinstance(value, str) else budget.weight(value))


def render(compiled, context: dict, limits: Limits = LIMITS) -> str:
    """Render a compiled template under a fresh budget; OverBudget when it goes over."""
    budget = Budget(limits)
    token = _current.set(budget)
    try:
        out = compiled.render(context)
    finally:
        _current.reset(token)
    if len(out) > limits.output:
        raise OverBudget("output")
    return out
