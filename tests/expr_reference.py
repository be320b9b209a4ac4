#!/usr/bin/env python3
"""Checks `retrograd expr --json --hessian` against sympy.

Each case gives a program in the tool's language and, written separately in Python with
sympy's functions, the same function; sympy differentiates it symbolically and evaluates
value, gradient and Hessian exactly (rational inputs, 30 digits). The tool's numbers must
agree to 1e-9 relative (relative to the largest magnitude of the quantity compared, so that
entries that are exactly zero are compared on the scale of their neighbours).

Usage: expr_reference.py RETROGRAD_BINARY. Exits 77 (skipped) when sympy is missing.
"""
import json
import subprocess
import sys

try:
    import sympy as sp
except ImportError:
    print("sympy is not available: skipped")
    sys.exit(77)

RTOL = 1e-9


def sigmoid(t):
    return 1 / (1 + sp.exp(-t))


def softplus(t):
    return sp.log(1 + sp.exp(t))


# (program, {variable: value text}, sympy expression as Python text, wrt or None).
# Tensor values become sympy matrices of symbols; names refer to them in the Python text.
CASES = [
    ("x^3*y - 2*x*y^2 + 7", {"x": "1.5", "y": "-0.75"},
     "x**3*y - 2*x*y**2 + 7", None),
    ("tanh(x*y) + exp(-x/2)*log(y)", {"x": "0.3", "y": "2.5"},
     "sp.tanh(x*y) + sp.exp(-x/2)*sp.log(y)", None),
    ("sigmoid(x - 2*y) * softplus(x*y)", {"x": "0.8", "y": "-0.4"},
     "sigmoid(x - 2*y) * softplus(x*y)", None),
    ("(x + y)/(x*y + 1) - z/(x - y)^2", {"x": "2", "y": "0.5", "z": "-3"},
     "(x + y)/(x*y + 1) - z/(x - y)**2", None),
    ("sqrt(x^2 + y^2 + z^2)", {"x": "1", "y": "-2", "z": "0.5"},
     "sp.sqrt(x**2 + y**2 + z**2)", None),
    ("x^y", {"x": "1.7", "y": "2.3"}, "x**y", None),
    ("log(exp(x) + exp(y) + exp(z))", {"x": "0.1", "y": "-1.2", "z": "2"},
     "sp.log(sp.exp(x) + sp.exp(y) + sp.exp(z))", None),
    ("sin(x)*cos(y) + cos(x*z)^2", {"x": "0.4", "y": "1.1", "z": "-0.9"},
     "sp.sin(x)*sp.cos(y) + sp.cos(x*z)**2", None),
    ("-x^2 + 2^-y + 3*z^3/4", {"x": "1.25", "y": "0.5", "z": "-1.5"},
     "-(x**2) + 2**(-y) + 3*z**3/4", None),
    ("u = x*y; v = u + z\ntanh(v)*u - v^2", {"x": "0.6", "y": "-1.3", "z": "0.2"},
     "sp.tanh(x*y + z)*(x*y) - (x*y + z)**2", None),
    ("exp(tanh(x)) / (1 + softplus(y - x))", {"x": "-0.35", "y": "0.9"},
     "sp.exp(sp.tanh(x)) / (1 + softplus(y - x))", None),
    ("pow(x, 3) - square(y)*z + neg(z)", {"x": "1.1", "y": "2", "z": "0.7"},
     "x**3 - y**2*z - z", None),
    ("log(sigmoid(x)) + log(1 - sigmoid(y))", {"x": "0.25", "y": "-2"},
     "sp.log(sigmoid(x)) + sp.log(1 - sigmoid(y))", None),
    ("1/(1 + x^2 + y^4)", {"x": "0.9", "y": "-1.1"}, "1/(1 + x**2 + y**4)", None),
    ("x*y*z - x/y/z", {"x": "3", "y": "-0.5", "z": "1.25"}, "x*y*z - x/y/z", None),
    ("2^3^(x/4) * y", {"x": "1.5", "y": "0.3"}, "2**(3**(x/4)) * y", None),
    ("abs(x)*y + relu(y)*x", {"x": "-1.5", "y": "0.75"}, "sp.Abs(x)*y + y*x", None),
    ("sum(tanh(W @ v))", {"W": "[[0.5,-1],[2,0.25]]", "v": "[[0.3],[0.7]]"},
     "sum(sp.tanh(e) for e in W*v)", None),
    ("mean(exp(v)) * sum(W)", {"W": "[[1,2],[3,4]]", "v": "[0.1,-0.2,0.3]"},
     "sum(sp.exp(e) for e in v)/3 * sum(W)", None),
    ("sum(log_softmax(v) * c)", {"v": "[0.5,-1,2]", "c": "[0.2,0.3,0.5]"},
     "sum(c[i]*(v[i] - sp.log(sum(sp.exp(e) for e in v))) for i in range(3))", ["v"]),
    ("sum(softmax(W, 0) * W)", {"W": "[[1,-1],[0.5,2]]"},
     "sum(sp.exp(W[i, j]) / (sp.exp(W[0, j]) + sp.exp(W[1, j])) * W[i, j]"
     " for i in range(2) for j in range(2))", None),
]


def shape_of(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return shape


def flatten(value):
    if isinstance(value, list):
        return [x for v in value for x in flatten(v)]
    return [value]


def symbols_for(name, text):
    """The sympy object standing for a variable, its flat symbols and exact values."""
    value = json.loads(text)
    shape = shape_of(value)
    values = [sp.Rational(str(v)) for v in flatten(value)]
    if not shape:
        sym = sp.Symbol(name, real=True)
        return sym, [sym], values
    syms = [sp.Symbol(f"{name}_{i}", real=True) for i in range(len(values))]
    if len(shape) == 1:
        obj = sp.Matrix(syms)
    else:
        obj = sp.Matrix(shape[0], shape[1], syms)
    return obj, syms, values


def close(got, expect, what, errors):
    scale = max([abs(e) for e in expect] + [1e-300])
    for i, (g, e) in enumerate(zip(got, expect)):
        if g is None or abs(g - e) > RTOL * scale:
            errors.append(f"{what}[{i}]: got {g!r}, sympy {e!r}")


def run_case(binary, program, at, reference, wrt):
    env = {"sp": sp, "sigmoid": sigmoid, "softplus": softplus, "sum": sum, "range": range}
    flat_syms, subs = {}, {}
    for name, text in at.items():
        obj, syms, values = symbols_for(name, text)
        env[name] = obj
        flat_syms[name] = syms
        subs.update(zip(syms, values))
    f = eval(reference, env)  # the reference is this file's own text
    order = wrt if wrt else list(at)
    xs = [s for name in order for s in flat_syms[name]]

    def num(e):
        return float(sp.N(e.subs(subs), 30))

    value = num(f)
    grad = {name: [num(sp.diff(f, s)) for s in flat_syms[name]] for name in order}
    hess = [[num(sp.diff(f, a, b)) for b in xs] for a in xs]

    cmd = [binary, "expr", "--json", "--hessian"]
    for name, text in at.items():
        cmd += ["--at", f"{name}={text}"]
    if wrt:
        cmd += ["--wrt", ",".join(wrt)]
    cmd.append(program)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return [f"exit status {proc.returncode}: {proc.stderr.strip()}"]
    out = json.loads(proc.stdout)
    errors = []
    close([out["value"]], [value], "value", errors)
    if list(out["grad"]) != order:
        errors.append(f"gradient keys {list(out['grad'])}, expected {order}")
        return errors
    for name in order:
        close(flatten(out["grad"][name]), grad[name], f"d/d{name}", errors)
    close(flatten(out["hessian"]), [h for row in hess for h in row], "hessian", errors)
    return errors


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    failures = 0
    for program, at, reference, wrt in CASES:
        errors = run_case(sys.argv[1], program, at, reference, wrt)
        print(("FAIL " if errors else "ok   ") + program.replace("\n", "; "))
        for e in errors:
            print("     " + e)
        failures += bool(errors)
    print(f"{len(CASES) - failures}/{len(CASES)} cases agree with sympy")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
