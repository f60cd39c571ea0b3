# The unix port is not flashed: tests/realmp runs it from a folder laid out by tools/deploy_tree.py
BOARD_FLASH := none
