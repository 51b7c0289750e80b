#: The installed version of gladia-async, as a PEP 440 string.
__version__ = "0.2.0"
