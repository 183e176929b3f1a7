"""Print which top-level package of `src/idproof` imports which (from the `import` lines).

    python tools/import_graph.py            # one line per package: what it imports
    python tools/import_graph.py --files    # and, for each edge, the modules that make it

Imports under `if TYPE_CHECKING:` are marked `(types)`: they cost nothing at run time but
are still a dependency. docs/architecture.md draws its diagram from this output.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "idproof"


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(id(n) for n in ast.walk(node))
    return found


def graph() -> dict[tuple[str, str], dict[str, bool]]:
    """(importer, imported) -> {module: only under TYPE_CHECKING}."""
    edges: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for path in sorted(SRC.rglob("*.py")):
        src = _package(path)
        tree = ast.parse(path.read_text(), str(path))
        typing_only = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] != "idproof" or len(parts) < 2 or parts[1] == src:
                    continue
                module = str(path.relative_to(SRC))
                edge = edges[(src, parts[1])]
                edge[module] = edge.get(module, True) and id(node) in typing_only
    return edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", action="store_true", help="list the modules of each edge")
    args = parser.parse_args()
    edges = graph()
    for src in sorted({s for s, _ in edges}):
        targets = sorted(d for s, d in edges if s == src)
        shown = [d + (" (types)" if all(edges[(src, d)].values()) else "") for d in targets]
        print(f"{src} -> {', '.join(shown)}")
        if args.files:
            for d in targets:
                print(f"    {d}: {', '.join(sorted(edges[(src, d)]))}")


if __name__ == "__main__":
    main()
