"""Every public name of stdlib multiprocessing's modules exists in gompx's, on this
interpreter, or api_parity_allowed.txt says why not (and a listed name that gompx does
serve fails too, so the list stays true).  docs/api-parity.md is the table for every
CPython (scripts/api_parity.py)."""

import pytest

import api_parity


@pytest.mark.parametrize("module", api_parity.MODULES, ids=lambda m: m or "multiprocessing")
def test_gompx_has_what_stdlib_has(module):
    reasons = api_parity.allowed()
    missing = [api_parity.qualified(module, n) for n in api_parity.missing(module)]
    assert [n for n in missing if n not in reasons] == []
    listed_here = {n for n in reasons if n.rpartition(".")[0] == module}
    present = [n for n in listed_here
               if n.rpartition(".")[2] in api_parity.stdlib_names(module) and n not in missing]
    assert present == [], "listed in api_parity_allowed.txt but gompx has them"
