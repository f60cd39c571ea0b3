# The unix port is not flashed: tests/realmp runs it from a folder laid out by tools/deploy_tree.py
BOARD_FLASH := none
# the unix port has no umqtt.simple in its image: make deploy copies the one make setup fetched
DEPLOY_ARGS := --extra-lib $(VENV)/mp-lib
