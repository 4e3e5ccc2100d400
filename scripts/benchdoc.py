"""Writes a benchmark script's results into docs/benchmarks.md, between its
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers (appended when absent)."""

import os
import re

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "benchmarks.md")


def write_block(name, body):
    with open(DOC) as f:
        doc = f.read()
    block = f"<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->"
    pattern = rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->"
    doc, n = re.subn(pattern, lambda _: block, doc, flags=re.S)
    if n == 0:
        doc += "\n" + block + "\n"
    with open(DOC, "w") as f:
        f.write(doc)
