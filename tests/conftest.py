import logging

# MJX logs a warning for the optional Warp backend at import; it is irrelevant here.
logging.getLogger().setLevel(logging.ERROR)
