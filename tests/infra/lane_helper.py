# A helper module beside a lane test file: both lanes must find it (the test file's folder is on sys.path).
VALUE = 42
