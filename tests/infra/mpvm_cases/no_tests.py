# lane: micropython
# Fixture: a lane file that defines no test.
X = 1
