#!/usr/bin/env python3
"""The window manager's part of the end-to-end test, which WebDriver cannot
play: `x11.py close WINDOW_ID` sends the window the WM_DELETE_WINDOW message
a window manager sends when its close button is clicked (Xvfb runs none).
Plain ctypes over libX11: the image has no xdotool or python-xlib."""
import ctypes
import sys

CLIENT_MESSAGE = 33


class ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    # XEvent is a union padded to 24 longs; XSendEvent copies that much.
    _fields_ = [("client", ClientMessage), ("pad", ctypes.c_long * 24)]


def close(window: int) -> None:
    x = ctypes.cdll.LoadLibrary("libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x.XOpenDisplay(None)
    if not display:
        sys.exit("cannot open the X display (is DISPLAY set?)")
    ev = XEvent()
    ev.client.type = CLIENT_MESSAGE
    ev.client.window = window
    ev.client.message_type = x.XInternAtom(display, b"WM_PROTOCOLS", 0)
    ev.client.format = 32
    ev.client.data[0] = x.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
    ev.client.data[1] = 0  # CurrentTime
    if not x.XSendEvent(display, window, 0, 0, ctypes.byref(ev)):
        sys.exit("XSendEvent failed")
    x.XFlush(display)
    x.XCloseDisplay(display)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "close":
        sys.exit("usage: x11.py close WINDOW_ID")
    close(int(sys.argv[2], 0))
