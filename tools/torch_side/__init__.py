"""The PyTorch side of gradoracle's fixture format v1, in parts (tools/torch_fixture.py is its
command line): base (constants, errors, literals), ops (the op table), parse (reading a fixture),
run (replay in torch), record (torch's values written back), programs (random fixtures)."""
