# What board and gateway must agree on, defined once (README.md beside this file):
#   record   alert record v1 codec        frame   serial frames v1
#   mail     the one email an alert becomes
# Import the module you need (from outpost_contract import record); this file imports nothing,
# so loading the package costs a board no memory.
