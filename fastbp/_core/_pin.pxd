# A training team's workers kept off the master's CPU (see _pin.h).

cdef extern from "_pin.h" nogil:
    ctypedef struct fb_pins:
        pass
    fb_pins* fb_pins_mine()
    void fb_pin_note(fb_pins* p, int t)
    void fb_pin_owner(fb_pins* p)
    int fb_pin_team(fb_pins* p, int team)
    void fb_pin_follow(fb_pins* p)
    void fb_unpin_team(fb_pins* p)
    int fb_pinned(const fb_pins* p)
