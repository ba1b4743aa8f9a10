"""The hostile-input suite: inputs written to hurt kaudit, run in bounded children.

`inputs` makes the texts, `harness` runs one case in a forked child with limits on time,
memory and file size, `cases` says which input goes to which target and what must hold, and
`report` prints the totals (`python -m tests.hostile.report`).
"""
