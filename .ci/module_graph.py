#!/usr/bin/env python3
"""Prints each crate's module graph (who uses whom, through `crate::…` paths) and fails when
two modules depend on each other, directly or around a longer loop.

Usage: .ci/module_graph.py [--quiet]   (run by `make lint`)

A module is a file `src/NAME.rs` (or `src/NAME/mod.rs`) of a library crate. `crate::NAME`
anywhere in a module is an edge to NAME; `crate::Item` for an item the crate root re-exports
(`pub use NAME::{Item, ...}`) is an edge to NAME. Test modules (`#[cfg(test)] mod tests`)
and comments are ignored.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["shared", "trainer", "infer"]


def strip(text):
    """The source without comments, string literals and the test module."""
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def graph(crate):
    src = ROOT / crate / "src"
    lib = strip((src / "lib.rs").read_text())
    modules = sorted(re.findall(r"^\s*pub(?:\([^)]*\))?\s+mod\s+(\w+)\s*;", lib, flags=re.M) +
                     re.findall(r"^\s*mod\s+(\w+)\s*;", lib, flags=re.M))
    owner = {}  # re-exported item -> module
    for module, items in re.findall(r"pub use (\w+)::\{?([\w,\s{}:]+)\}?;", lib):
        for item in re.findall(r"\w+", items):
            owner.setdefault(item, module)
    edges = {}
    for m in modules:
        path = src / f"{m}.rs"
        if not path.exists():
            path = src / m / "mod.rs"
        body = strip(path.read_text())
        used = set()
        for name in re.findall(r"\bcrate::(\w+)", body):
            target = name if name in modules else owner.get(name)
            if target and target != m:
                used.add(target)
        # `use crate::{a, b::c}` groups
        for group in re.findall(r"\bcrate::\{([^;]*)\}", body):
            for name in re.findall(r"(?:^|[,{]\s*)(\w+)", group):
                target = name if name in modules else owner.get(name)
                if target and target != m:
                    used.add(target)
        edges[m] = sorted(used)
    return modules, edges


def cycles(modules, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in modules:
        if v not in index:
            visit(v)
    return out


def main():
    quiet = "--quiet" in sys.argv
    bad = False
    for crate in CRATES:
        modules, edges = graph(crate)
        if not quiet:
            print(f"{crate}:")
            for m in modules:
                print(f"  {m:<12} -> {', '.join(edges[m]) or '-'}")
        for comp in cycles(modules, edges):
            bad = True
            print(f"error: {crate}: modules that depend on each other: {' <-> '.join(comp)}", file=sys.stderr)
    if bad:
        sys.exit(1)
    if not quiet:
        print("no module cycles")


if __name__ == "__main__":
    main()
