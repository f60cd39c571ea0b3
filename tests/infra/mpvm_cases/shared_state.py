# Module state shared by the isolated_a/isolated_b fixtures.
VALUE = 42
