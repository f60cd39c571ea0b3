# boot.py runs first after every reset. It only tidies up and always returns, so a broken app
# can always be fixed over USB; the app itself starts from main.py.
import gc

gc.collect()
