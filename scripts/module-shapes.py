#!/usr/bin/env python3
"""Writes a module of a hostile import graph, for timing `goconc check` and the server on it.

  module-shapes.py chain N DIR        p0 imports p1 ... imports pN-1, which calls http.Get
  module-shapes.py ladder L K DIR     p_i imports K packages that each import p_{i+1}; K^L paths

In both, p0/use.go calls down the graph with a mutex held: `goconc check DIR/p0` reports
mutex-held-blocking at p0/use.go:10, and so must the server for the open p0/use.go.
"""
import os
import sys


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def bottom(root, name):
    write(f"{root}/{name}/p.go",
          f'package {name}\n\nimport "net/http"\n\n'
          'func F() error {\n\t_, err := http.Get("x")\n\treturn err\n}\n')


def main():
    kind, args = sys.argv[1], sys.argv[2:]
    root = args[-1]
    write(f"{root}/go.mod", "module example.com/shapes\n\ngo 1.22\n")
    if kind == "chain":
        n = int(args[0])
        for i in range(n - 1):
            write(f"{root}/p{i}/p.go",
                  f'package p{i}\n\nimport "example.com/shapes/p{i + 1}"\n\n'
                  f"func F() error {{ return p{i + 1}.F() }}\n")
        bottom(root, f"p{n - 1}")
    elif kind == "ladder":
        rungs, width = int(args[0]), int(args[1])
        for i in range(rungs):
            sides = [f"m{i}x{k}" for k in range(width)]
            imports = "".join(f'\t"example.com/shapes/{s}"\n' for s in sides)
            calls = "".join(f"\tif err := {s}.F(); err != nil {{\n\t\treturn err\n\t}}\n" for s in sides)
            write(f"{root}/p{i}/p.go",
                  f"package p{i}\n\nimport (\n{imports})\n\nfunc F() error {{\n{calls}\treturn nil\n}}\n")
            for s in sides:
                write(f"{root}/{s}/m.go",
                      f'package {s}\n\nimport "example.com/shapes/p{i + 1}"\n\n'
                      f"func F() error {{ return p{i + 1}.F() }}\n")
        bottom(root, f"p{rungs}")
    else:
        sys.exit(__doc__)
    write(f"{root}/p0/use.go",
          'package p0\n\nimport "sync"\n\nvar mu sync.Mutex\n\n'
          "func G() error {\n\tmu.Lock()\n\tdefer mu.Unlock()\n\treturn F()\n}\n")


if __name__ == "__main__":
    main()
