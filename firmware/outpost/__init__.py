# Outpost board firmware. Importing the package does nothing; main.py calls outpost.app.main().
VERSION = "0.1.0"
