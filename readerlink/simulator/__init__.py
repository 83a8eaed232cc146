"""The simulated reader MCU (its firmware, optics and bootloader), run behind a real pty.

Start it as a process: `python -m readerlink.simulator --pty-link PATH`. Nothing of
the host side (readerlink.host) is imported here, as on a real MCU.
"""
